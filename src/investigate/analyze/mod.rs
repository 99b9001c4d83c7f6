//! The deterministic analyzers (no I/O): what is wrong with the objects a question is about, each finding
//! naming its evidence (object, event, log line). Typed Kubernetes objects in, findings out.

mod objects;
mod pods;
mod scope;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Event, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::argo::AppState;

use objects::{
    app_findings, deployment_findings, ingress_findings, node_findings, pvc_findings,
    service_findings,
};
pub use pods::logs_wanted;
use pods::pod_findings;
pub use scope::{Scope, names, scope, terms};

/// Log lines of a crashed container shown as evidence.
pub const LOG_LINES: usize = 5;
/// Events cited per object.
const EVENTS_PER_OBJECT: usize = 3;

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

fn name_of(m: &ObjectMeta) -> String {
    m.name.clone().unwrap_or_default()
}

fn ns_of(m: &ObjectMeta) -> String {
    m.namespace.clone().unwrap_or_default()
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

#[cfg(test)]
mod tests;
