//! Gathering for the analyzers: read-only lists of the kinds they inspect (never Secrets or ConfigMaps), the
//! Argo CD Applications, and the previous log of restarted containers. A read that fails becomes a note.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Endpoints, Event, Namespace, Node, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DynamicObject, ListParams, LogParams};
use kube::{Api, Client};

use super::analyze::{self, App, Scope, Snapshot};
use crate::argo::AppState;

/// Most objects read per kind.
const LIST_LIMIT: u32 = 500;
/// Most containers whose previous log is read per question.
const MAX_LOGS: usize = 3;
/// Lines read from each of those logs.
const LOG_TAIL: i64 = 20;

/// What was gathered, the scope resolved from the question, and the reads that failed.
pub struct Gathered {
    pub snapshot: Snapshot,
    pub scope: Scope,
    pub notes: Vec<String>,
}

async fn list<K>(api: Api<K>, what: &str, notes: &mut Vec<String>) -> Vec<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.list(&ListParams::default().limit(LIST_LIMIT)).await {
        Ok(list) => list.items,
        Err(e) => {
            notes.push(format!("could not list {what}: {e}"));
            Vec::new()
        }
    }
}

async fn apps(client: &Client, argo_namespace: &str, notes: &mut Vec<String>) -> Vec<App> {
    let api: Api<DynamicObject> = crate::argo::applications(client.clone(), argo_namespace);
    let items = match api.list(&ListParams::default().limit(LIST_LIMIT)).await {
        Ok(list) => list.items,
        Err(e) => {
            notes.push(format!("could not list Argo CD applications: {e}"));
            return Vec::new();
        }
    };
    items
        .into_iter()
        .map(|o| {
            let v = serde_json::to_value(&o).unwrap_or_default();
            App {
                name: o.metadata.name.clone().unwrap_or_default(),
                destination: v["spec"]["destination"]["namespace"]
                    .as_str()
                    .map(str::to_owned),
                state: AppState::from_object(&v),
            }
        })
        .collect()
}

/// Reads the cluster for `question`: every inspected kind, then the previous logs of restarted containers in scope.
pub async fn gather(client: &Client, argo_namespace: &str, question: &str) -> Gathered {
    let mut notes = Vec::new();
    let c = client.clone();
    let namespaces: Vec<Namespace> = list(Api::all(c.clone()), "namespaces", &mut notes).await;
    let mut s = Snapshot {
        namespaces: namespaces
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect(),
        pods: list(Api::<Pod>::all(c.clone()), "pods", &mut notes).await,
        deployments: list(Api::<Deployment>::all(c.clone()), "deployments", &mut notes).await,
        services: list(Api::<Service>::all(c.clone()), "services", &mut notes).await,
        endpoints: list(Api::<Endpoints>::all(c.clone()), "endpoints", &mut notes).await,
        pvcs: list(
            Api::<PersistentVolumeClaim>::all(c.clone()),
            "persistentvolumeclaims",
            &mut notes,
        )
        .await,
        ingresses: list(Api::<Ingress>::all(c.clone()), "ingresses", &mut notes).await,
        events: list(Api::<Event>::all(c.clone()), "events", &mut notes).await,
        nodes: list(Api::<Node>::all(c.clone()), "nodes", &mut notes).await,
        apps: apps(client, argo_namespace, &mut notes).await,
        logs: Default::default(),
    };
    let scope = analyze::scope(question, &s);
    for (ns, pod, container) in analyze::logs_wanted(&s, &scope, MAX_LOGS) {
        let params = LogParams {
            container: Some(container.clone()),
            previous: true,
            tail_lines: Some(LOG_TAIL),
            ..LogParams::default()
        };
        match Api::<Pod>::namespaced(c.clone(), &ns)
            .logs(&pod, &params)
            .await
        {
            Ok(log) => {
                s.logs.insert(format!("{ns}/{pod}/{container}"), log);
            }
            Err(e) => notes.push(format!("could not read the log of {ns}/{pod}: {e}")),
        }
    }
    Gathered {
        snapshot: s,
        scope,
        notes,
    }
}
