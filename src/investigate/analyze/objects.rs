//! Analyzers of everything but pods: rollouts, Services and their endpoints, claims, Ingresses, Argo CD
//! Applications and Nodes.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::Ingress;

use super::{App, Finding, Severity, Snapshot, events_for, name_of, ns_of};

pub(super) fn deployment_findings(d: &Deployment) -> Vec<Finding> {
    let object = format!("Deployment {}/{}", ns_of(&d.metadata), name_of(&d.metadata));
    let Some(status) = &d.status else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let stuck = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(c) = stuck {
        out.push(Finding {
            severity: Severity::Critical,
            object: object.clone(),
            summary: "the rollout is stuck (ProgressDeadlineExceeded)".into(),
            evidence: vec![format!(
                "condition Progressing=False: {}",
                c.message.as_deref().unwrap_or("")
            )],
        });
    }
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let unavailable = status.unavailable_replicas.unwrap_or(0);
    if unavailable > 0 {
        out.push(Finding {
            severity: Severity::Warning,
            object,
            summary: format!("{unavailable} of {wanted} replicas unavailable"),
            evidence: vec![format!(
                "status: {} ready, {} available, {} updated",
                status.ready_replicas.unwrap_or(0),
                status.available_replicas.unwrap_or(0),
                status.updated_replicas.unwrap_or(0)
            )],
        });
    }
    out
}

pub(super) fn service_findings(svc: &Service, s: &Snapshot) -> Vec<Finding> {
    let (ns, name) = (ns_of(&svc.metadata), name_of(&svc.metadata));
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName")
        || spec.selector.as_ref().is_none_or(|sel| sel.is_empty())
    {
        return Vec::new();
    }
    let ep = s
        .endpoints
        .iter()
        .find(|e| ns_of(&e.metadata) == ns && name_of(&e.metadata) == name);
    let subsets = ep.and_then(|e| e.subsets.as_deref()).unwrap_or_default();
    let ready: usize = subsets
        .iter()
        .map(|x| x.addresses.as_ref().map_or(0, Vec::len))
        .sum();
    let not_ready: usize = subsets
        .iter()
        .map(|x| x.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if ready > 0 {
        return Vec::new();
    }
    let selector: Vec<String> = spec
        .selector
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vec![Finding {
        severity: Severity::Warning,
        object: format!("Service {ns}/{name}"),
        summary: "no ready endpoints: requests to it fail".into(),
        evidence: vec![format!(
            "endpoints: 0 ready, {not_ready} not ready; selector {}",
            selector.join(",")
        )],
    }]
}

pub(super) fn pvc_findings(pvc: &PersistentVolumeClaim, s: &Snapshot) -> Vec<Finding> {
    let phase = pvc.status.as_ref().and_then(|st| st.phase.as_deref());
    if phase != Some("Pending") {
        return Vec::new();
    }
    let (ns, name) = (ns_of(&pvc.metadata), name_of(&pvc.metadata));
    let class = pvc
        .spec
        .as_ref()
        .and_then(|sp| sp.storage_class_name.clone())
        .unwrap_or_else(|| "(default)".into());
    let mut evidence = vec![format!("storage class: {class}")];
    evidence.extend(events_for(s, "PersistentVolumeClaim", &ns, &name));
    vec![Finding {
        severity: Severity::Warning,
        object: format!("PersistentVolumeClaim {ns}/{name}"),
        summary: "Pending: no volume is bound".into(),
        evidence,
    }]
}

pub(super) fn ingress_findings(ing: &Ingress, s: &Snapshot) -> Vec<Finding> {
    let ns = ns_of(&ing.metadata);
    let Some(spec) = &ing.spec else {
        return Vec::new();
    };
    let backends = spec
        .default_backend
        .iter()
        .chain(
            spec.rules
                .iter()
                .flatten()
                .filter_map(|r| r.http.as_ref())
                .flat_map(|h| h.paths.iter().map(|p| &p.backend)),
        )
        .filter_map(|b| b.service.as_ref().map(|svc| svc.name.clone()));
    let missing: BTreeSet<String> = backends
        .filter(|b| {
            !s.services
                .iter()
                .any(|svc| ns_of(&svc.metadata) == ns && &name_of(&svc.metadata) == b)
        })
        .collect();
    missing
        .into_iter()
        .map(|b| Finding {
            severity: Severity::Warning,
            object: format!("Ingress {ns}/{}", name_of(&ing.metadata)),
            summary: format!("its backend Service {b} does not exist"),
            evidence: vec![format!(
                "backend: service {b} (not found in namespace {ns})"
            )],
        })
        .collect()
}

pub(super) fn app_findings(app: &App) -> Vec<Finding> {
    let st = &app.state;
    let bad_health = matches!(st.health.as_str(), "Degraded" | "Missing");
    let out_of_sync = st.sync == "OutOfSync";
    if !bad_health && !out_of_sync {
        return Vec::new();
    }
    let mut evidence = vec![format!(
        "status: health {}, sync {}, revision {}",
        st.health,
        st.sync,
        st.revision.as_deref().unwrap_or("?")
    )];
    evidence.extend(st.unhealthy.iter().map(|u| format!("resource {u}")));
    vec![Finding {
        severity: if bad_health {
            Severity::Critical
        } else {
            Severity::Warning
        },
        object: format!("Argo CD Application {}", app.name),
        summary: format!("{} and {}", st.health, st.sync),
        evidence,
    }]
}

pub(super) fn node_findings(node: &Node) -> Vec<Finding> {
    let name = name_of(&node.metadata);
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut out = Vec::new();
    for c in conditions {
        let bad = match c.type_.as_str() {
            "Ready" => c.status != "True",
            "MemoryPressure" | "DiskPressure" | "PIDPressure" => c.status == "True",
            _ => false,
        };
        if !bad {
            continue;
        }
        let summary = match c.type_.as_str() {
            "Ready" => "NotReady".to_owned(),
            pressure => format!("under {pressure}"),
        };
        out.push(Finding {
            severity: if c.type_ == "Ready" {
                Severity::Critical
            } else {
                Severity::Warning
            },
            object: format!("Node {name}"),
            summary,
            evidence: vec![format!(
                "condition {}={}: {}",
                c.type_,
                c.status,
                c.message
                    .as_deref()
                    .unwrap_or(c.reason.as_deref().unwrap_or(""))
            )],
        });
    }
    out
}
