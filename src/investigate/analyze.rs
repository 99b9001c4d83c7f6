//! The deterministic analyzers (no I/O): which objects a question is about, and what is wrong with them, each
//! finding naming its evidence (object, event, log line). Typed Kubernetes objects in, findings out.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ContainerStatus, Endpoints, Event, Node, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::networking::v1::Ingress;

use crate::argo::AppState;

/// Log lines of a crashed container shown as evidence.
pub const LOG_LINES: usize = 5;
/// Events cited per object.
const EVENTS_PER_OBJECT: usize = 3;
/// Words that never name an object.
const STOPWORDS: [&str; 40] = [
    "why",
    "the",
    "and",
    "what",
    "whats",
    "how",
    "does",
    "did",
    "not",
    "can",
    "cant",
    "isn",
    "isnt",
    "are",
    "was",
    "with",
    "from",
    "for",
    "this",
    "that",
    "still",
    "again",
    "keeps",
    "keep",
    "crashlooping",
    "crashing",
    "crash",
    "failing",
    "broken",
    "down",
    "pod",
    "pods",
    "app",
    "service",
    "deployment",
    "namespace",
    "help",
    "please",
    "aura",
    "there",
];

/// Everything gathered from the cluster for one question.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub namespaces: Vec<String>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoints>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    pub ingresses: Vec<Ingress>,
    pub events: Vec<Event>,
    pub nodes: Vec<Node>,
    pub apps: Vec<App>,
    /// The previous container's log tail, by `namespace/pod/container`.
    pub logs: BTreeMap<String, String>,
}

/// An Argo CD Application and the namespace it deploys to.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub destination: Option<String>,
    pub state: AppState,
}

/// What the question is about: the words that named live objects, and the namespaces in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub terms: Vec<String>,
    /// Namespaces named by a term, or deployed to by a named Argo CD application (all of their objects count).
    pub namespaces: BTreeSet<String>,
}

impl Scope {
    /// Whether the question named nothing we found: then the whole cluster is in scope.
    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether an object in `namespace` named `name` is in scope.
    pub fn covers(&self, namespace: &str, name: &str) -> bool {
        self.is_everything()
            || self.namespaces.contains(namespace)
            || self.terms.iter().any(|t| names(name, t))
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Warning,
}

/// One problem, with the object it is about and the evidence it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// `Kind namespace/name`.
    pub object: String,
    pub summary: String,
    /// `event: …`, `log: …`, `status: …` lines.
    pub evidence: Vec<String>,
}

/// Whether `name` is named by `term`: equal, containing it (`payments` → `payments-api-7d9c…`), or the term
/// is a longer name starting with it (`payments-api` → namespace `payments`).
pub fn names(name: &str, term: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains(term) || (name.len() >= 3 && term.starts_with(&format!("{name}-")))
}

/// The words of a question that could name an object: lowercase, at least three characters, no stopwords.
pub fn terms(question: &str) -> Vec<String> {
    let mut out: Vec<String> = question
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .map(|w| {
            w.trim_matches(|c| c == '.' || c == '-')
                .to_ascii_lowercase()
        })
        .filter(|w| w.len() >= 3 && !STOPWORDS.contains(&w.as_str()))
        .collect();
    out.dedup();
    out
}

/// Resolves the question against live names (namespaces, pods, deployments, services, Argo CD applications).
pub fn scope(question: &str, s: &Snapshot) -> Scope {
    let mut scope = Scope::default();
    for term in terms(question) {
        let mut hit = false;
        for ns in s.namespaces.iter().filter(|ns| names(ns, &term)) {
            scope.namespaces.insert(ns.clone());
            hit = true;
        }
        for app in s.apps.iter().filter(|a| names(&a.name, &term)) {
            if let Some(ns) = &app.destination {
                scope.namespaces.insert(ns.clone());
            }
            hit = true;
        }
        let objects = s
            .pods
            .iter()
            .map(|p| name_of(&p.metadata))
            .chain(s.deployments.iter().map(|d| name_of(&d.metadata)))
            .chain(s.services.iter().map(|d| name_of(&d.metadata)));
        hit |= objects.into_iter().any(|n| names(&n, &term));
        if hit {
            scope.terms.push(term);
        }
    }
    scope
}

fn name_of(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    m.name.clone().unwrap_or_default()
}

fn ns_of(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    m.namespace.clone().unwrap_or_default()
}

/// The containers whose previous log is worth reading: restarted ones in scope (at most `max`).
pub fn logs_wanted(s: &Snapshot, scope: &Scope, max: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for pod in &s.pods {
        let (ns, name) = (ns_of(&pod.metadata), name_of(&pod.metadata));
        if !scope.covers(&ns, &name) {
            continue;
        }
        for c in container_statuses(pod) {
            if c.restart_count > 0 && terminated_last(c).is_some() {
                out.push((ns.clone(), name.clone(), c.name.clone()));
            }
        }
    }
    out.truncate(max);
    out
}

/// Every analyzer over the objects in scope, worst first.
pub fn analyze(s: &Snapshot, scope: &Scope) -> Vec<Finding> {
    let mut findings = Vec::new();
    for pod in &s.pods {
        if scope.covers(&ns_of(&pod.metadata), &name_of(&pod.metadata)) {
            findings.extend(pod_findings(pod, s));
        }
    }
    for d in &s.deployments {
        if scope.covers(&ns_of(&d.metadata), &name_of(&d.metadata)) {
            findings.extend(deployment_findings(d));
        }
    }
    for svc in &s.services {
        if scope.covers(&ns_of(&svc.metadata), &name_of(&svc.metadata)) {
            findings.extend(service_findings(svc, s));
        }
    }
    for pvc in &s.pvcs {
        if scope.covers(&ns_of(&pvc.metadata), &name_of(&pvc.metadata)) {
            findings.extend(pvc_findings(pvc, s));
        }
    }
    for ing in &s.ingresses {
        if scope.covers(&ns_of(&ing.metadata), &name_of(&ing.metadata)) {
            findings.extend(ingress_findings(ing, s));
        }
    }
    for app in &s.apps {
        let dest = app.destination.clone().unwrap_or_default();
        if scope.covers(&dest, &app.name) {
            findings.extend(app_findings(app));
        }
    }
    for node in &s.nodes {
        findings.extend(node_findings(node));
    }
    findings.sort_by_key(|f| f.severity);
    findings
}

fn container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .chain(
            status
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default(),
        )
}

fn terminated_last(
    c: &ContainerStatus,
) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    c.last_state.as_ref().and_then(|s| s.terminated.as_ref())
}

fn waiting_reason(c: &ContainerStatus) -> Option<(&str, Option<&str>)> {
    let w = c.state.as_ref()?.waiting.as_ref()?;
    Some((w.reason.as_deref()?, w.message.as_deref()))
}

/// Warning events about one object, newest last, as evidence lines.
fn events_for(s: &Snapshot, kind: &str, ns: &str, name: &str) -> Vec<String> {
    let mut lines: Vec<String> = s
        .events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            o.kind.as_deref() == Some(kind)
                && o.name.as_deref() == Some(name)
                && (ns.is_empty() || o.namespace.as_deref().unwrap_or(ns) == ns)
                && e.type_.as_deref() != Some("Normal")
        })
        .map(|e| {
            let count = e
                .count
                .filter(|n| *n > 1)
                .map(|n| format!(" (×{n})"))
                .unwrap_or_default();
            format!(
                "event {}: {}{count}",
                e.reason.as_deref().unwrap_or("?"),
                e.message.as_deref().unwrap_or("").trim()
            )
        })
        .collect();
    let cut = lines.len().saturating_sub(EVENTS_PER_OBJECT);
    lines.drain(..cut);
    lines
}

fn memory_limit(pod: &Pod, container: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let c = spec.containers.iter().find(|c| c.name == container)?;
    let limits = c.resources.as_ref()?.limits.as_ref()?;
    limits.get("memory").map(|q| q.0.clone())
}

fn pod_findings(pod: &Pod, s: &Snapshot) -> Vec<Finding> {
    let (ns, name) = (ns_of(&pod.metadata), name_of(&pod.metadata));
    let object = format!("Pod {ns}/{name}");
    let mut out = Vec::new();
    for c in container_statuses(pod) {
        let last = terminated_last(c);
        let oom = last.is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
            || c.state
                .as_ref()
                .and_then(|st| st.terminated.as_ref())
                .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"));
        let mut evidence = Vec::new();
        if let Some(t) = last {
            evidence.push(format!(
                "last termination: exit code {}, reason {}{}",
                t.exit_code,
                t.reason.as_deref().unwrap_or("unknown"),
                t.finished_at
                    .as_ref()
                    .map(|f| format!(", finished {}", f.0))
                    .unwrap_or_default()
            ));
        }
        if oom && let Some(limit) = memory_limit(pod, &c.name) {
            evidence.push(format!("memory limit: {limit}"));
        }
        match waiting_reason(c) {
            Some(("CrashLoopBackOff", _)) => {
                let why = last
                    .map(|t| {
                        format!(
                            "; last exit code {} ({})",
                            t.exit_code,
                            t.reason.as_deref().unwrap_or("unknown")
                        )
                    })
                    .unwrap_or_default();
                evidence.extend(log_evidence(s, &ns, &name, &c.name));
                evidence.extend(events_for(s, "Pod", &ns, &name));
                out.push(Finding {
                    severity: Severity::Critical,
                    object: object.clone(),
                    summary: format!(
                        "container {} is in CrashLoopBackOff after {} restarts{why}",
                        c.name, c.restart_count
                    ),
                    evidence,
                });
            }
            Some((
                reason @ ("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName"),
                message,
            )) => {
                if let Some(m) = message {
                    evidence.push(format!("status: {m}"));
                }
                evidence.extend(events_for(s, "Pod", &ns, &name));
                out.push(Finding {
                    severity: Severity::Critical,
                    object: object.clone(),
                    summary: format!(
                        "container {} cannot pull image {} ({reason})",
                        c.name, c.image
                    ),
                    evidence,
                });
            }
            Some((
                reason @ ("CreateContainerConfigError"
                | "CreateContainerError"
                | "RunContainerError"),
                message,
            )) => {
                evidence.push(format!("status: {}", message.unwrap_or(reason)));
                out.push(Finding {
                    severity: Severity::Critical,
                    object: object.clone(),
                    summary: format!("container {} cannot start ({reason})", c.name),
                    evidence,
                });
            }
            _ if oom => {
                evidence.extend(log_evidence(s, &ns, &name, &c.name));
                out.push(Finding {
                    severity: Severity::Critical,
                    object: object.clone(),
                    summary: format!(
                        "container {} was OOMKilled (out of memory) after {} restarts",
                        c.name, c.restart_count
                    ),
                    evidence,
                });
            }
            _ => {}
        }
    }
    if let Some(f) = pending_finding(pod, s, &object) {
        out.push(f);
    }
    out
}

fn pending_finding(pod: &Pod, s: &Snapshot, object: &str) -> Option<Finding> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Pending") {
        return None;
    }
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    let (ns, name) = (ns_of(&pod.metadata), name_of(&pod.metadata));
    let mut evidence = events_for(s, "Pod", &ns, &name);
    if evidence.is_empty()
        && let Some(m) = &unscheduled.message
    {
        evidence.push(format!("condition PodScheduled=False: {m}"));
    }
    Some(Finding {
        severity: Severity::Critical,
        object: object.to_owned(),
        summary: format!(
            "Pending: the scheduler cannot place it ({})",
            unscheduled.reason.as_deref().unwrap_or("Unschedulable")
        ),
        evidence,
    })
}

fn log_evidence(s: &Snapshot, ns: &str, pod: &str, container: &str) -> Vec<String> {
    let Some(log) = s.logs.get(&format!("{ns}/{pod}/{container}")) else {
        return Vec::new();
    };
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LOG_LINES)..]
        .iter()
        .map(|l| format!("log (previous container): {}", l.trim_end()))
        .collect()
}

fn deployment_findings(d: &Deployment) -> Vec<Finding> {
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

fn service_findings(svc: &Service, s: &Snapshot) -> Vec<Finding> {
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

fn pvc_findings(pvc: &PersistentVolumeClaim, s: &Snapshot) -> Vec<Finding> {
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

fn ingress_findings(ing: &Ingress, s: &Snapshot) -> Vec<Finding> {
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

fn app_findings(app: &App) -> Vec<Finding> {
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

fn node_findings(node: &Node) -> Vec<Finding> {
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

#[cfg(test)]
#[path = "analyze_tests.rs"]
mod tests;
