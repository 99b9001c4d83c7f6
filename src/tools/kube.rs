//! Read-only Kubernetes tools: list and get a closed set of kinds (never Secrets or ConfigMaps), recent events,
//! and pod logs with a tail limit. Output is compact JSON, cut and fenced by the caller.

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Event, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{Value, json};

/// The kinds the tools can read: a closed set, with no Secret (or ConfigMap, which often holds credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pods,
    Deployments,
    Services,
    Events,
    Nodes,
    Endpoints,
    Persistentvolumeclaims,
    Ingresses,
}

/// Most log lines one call returns.
pub const MAX_TAIL_LINES: i64 = 200;

/// A short, stable view of an object: what matters for debugging, without managed fields or annotations.
fn summary(value: Value) -> Value {
    let m = &value["metadata"];
    let mut out = json!({
        "name": m["name"], "namespace": m["namespace"], "labels": m["labels"],
        "spec": slim_spec(&value["spec"]), "status": value["status"],
    });
    // Endpoints keep their addresses at the top level.
    if !value["subsets"].is_null() {
        out["subsets"] = value["subsets"].clone();
    }
    out
}

fn slim_spec(spec: &Value) -> Value {
    let mut spec = spec.clone();
    // Environment values may carry credentials; names are enough to debug.
    let path = if spec.pointer("/template/spec/containers").is_some() {
        "/template/spec/containers"
    } else {
        "/containers"
    };
    if let Some(list) = spec.pointer_mut(path).and_then(Value::as_array_mut) {
        for c in list {
            if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                for e in env {
                    if let Some(obj) = e.as_object_mut() {
                        obj.remove("value");
                    }
                }
            }
        }
    }
    spec
}

async fn list_of<K>(api: Api<K>, params: &ListParams) -> anyhow::Result<Vec<Value>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let list = api.list(params).await?;
    Ok(list
        .items
        .into_iter()
        .map(|o| summary(serde_json::to_value(o).unwrap_or_default()))
        .collect())
}

/// Lists objects of `kind` in `namespace` (nodes are cluster-wide), optionally by label selector.
pub async fn list(
    client: &Client,
    kind: Kind,
    namespace: &str,
    selector: Option<&str>,
) -> anyhow::Result<String> {
    let mut params = ListParams::default().limit(100);
    if let Some(s) = selector {
        params = params.labels(s);
    }
    let c = client.clone();
    let items = match kind {
        Kind::Pods => list_of(Api::<Pod>::namespaced(c, namespace), &params).await?,
        Kind::Deployments => list_of(Api::<Deployment>::namespaced(c, namespace), &params).await?,
        Kind::Services => list_of(Api::<Service>::namespaced(c, namespace), &params).await?,
        Kind::Events => {
            let events = Api::<Event>::namespaced(c, namespace).list(&params).await?;
            events
                .items
                .into_iter()
                .map(|e| json!({"type": e.type_, "reason": e.reason, "object": format!("{}/{}",
                    e.involved_object.kind.unwrap_or_default(), e.involved_object.name.unwrap_or_default()),
                    "message": e.message, "count": e.count, "last": e.last_timestamp}))
                .collect()
        }
        Kind::Nodes => list_of(Api::<Node>::all(c), &params).await?,
        Kind::Endpoints => list_of(Api::<Endpoints>::namespaced(c, namespace), &params).await?,
        Kind::Persistentvolumeclaims => {
            list_of(
                Api::<PersistentVolumeClaim>::namespaced(c, namespace),
                &params,
            )
            .await?
        }
        Kind::Ingresses => list_of(Api::<Ingress>::namespaced(c, namespace), &params).await?,
    };
    serde_json::to_string_pretty(&items).context("cannot encode objects")
}

/// The last `tail` lines (at most `MAX_TAIL_LINES`) of a pod's (container's) log; `previous` reads the log of
/// the last terminated container, what a crash loop left behind.
pub async fn logs(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    tail: i64,
    previous: bool,
) -> anyhow::Result<String> {
    let params = LogParams {
        container: container.map(str::to_owned),
        tail_lines: Some(tail.clamp(1, MAX_TAIL_LINES)),
        previous,
        ..LogParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), namespace)
        .logs(pod, &params)
        .await
        .with_context(|| format!("cannot read the log of {namespace}/{pod}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_a_kind_and_env_values_are_dropped() {
        assert!(serde_json::from_value::<Kind>(json!("secrets")).is_err());
        assert!(serde_json::from_value::<Kind>(json!("configmaps")).is_err());
        let deployment = json!({"metadata": {"name": "payments", "managedFields": [{"x": 1}], "annotations": {"a": "b"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]}}}});
        let s = summary(deployment);
        let text = s.to_string();
        assert!(
            !text.contains("hunter2")
                && !text.contains("managedFields")
                && text.contains("DB_PASSWORD"),
            "{text}"
        );
    }
}
