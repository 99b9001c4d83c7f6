//! A Kubernetes API fake serving Argo CD `Application` objects (the real shape) to the real kube client, and
//! answering `SelfSubjectAccessReview`s from an allow-list (by default what Aura's ClusterRole grants).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// A running fake with scripted applications.
#[derive(Clone)]
pub struct KubeFake {
    apps: Arc<Mutex<HashMap<String, Value>>>,
    /// What the identity may do: (verb, API group, resource or resource/subresource), in every namespace.
    allowed: Arc<Mutex<BTreeSet<(String, String, String)>>>,
    pub url: String,
}

/// `list pods` → (list, "", pods); `get pods/log`; `list deployments.apps` → (list, apps, deployments).
fn permission(verb: &str, resource: &str) -> (String, String, String) {
    let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
    (verb.to_owned(), group.to_owned(), resource.to_owned())
}

/// Every (verb, group, resource) the rules of deploy/kubernetes/clusterrole.yaml grant.
fn cluster_role_grants() -> BTreeSet<(String, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/kubernetes/clusterrole.yaml"
    );
    let text = std::fs::read_to_string(path).expect("read the ClusterRole");
    let role: Value = serde_norway::from_str(&text).expect("ClusterRole YAML");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    grants.insert((verb, group.clone(), resource.clone()));
                }
            }
        }
    }
    grants
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: the review echoed with `status.allowed`.
async fn access_review(State(fake): State<KubeFake>, Json(review): Json<Value>) -> Response {
    let attrs = &review["spec"]["resourceAttributes"];
    let text = |k: &str| attrs[k].as_str().unwrap_or_default().to_owned();
    let resource = match text("subresource").as_str() {
        "" => text("resource"),
        sub => format!("{}/{sub}", text("resource")),
    };
    let allowed =
        fake.allowed
            .lock()
            .expect("lock")
            .contains(&(text("verb"), text("group"), resource));
    let status = if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"aura-read-only\" of ClusterRole \"aura-read-only\" to ServiceAccount \"aura/aura\""})
    } else {
        json!({"allowed": false})
    };
    let answer = json!({
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review["spec"].clone(),
        "status": status
    });
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// `GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications`: an `ApplicationList`, honouring `limit`;
/// 403 when `list applications.argoproj.io` is not allowed. Watches are not served.
async fn list_apps(
    State(fake): State<KubeFake>,
    Path(ns): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let may = fake
        .allowed
        .lock()
        .expect("lock")
        .contains(&permission("list", "applications.argoproj.io"));
    if !may {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("applications.argoproj.io is forbidden: User \"system:serviceaccount:aura:aura\" cannot list resource \"applications\" in API group \"argoproj.io\" in the namespace \"{ns}\""),
                        "reason": "Forbidden", "details": {"group": "argoproj.io", "kind": "applications"}, "code": 403})),
        )
            .into_response();
    }
    let mut items: Vec<(String, Value)> = fake
        .apps
        .lock()
        .expect("lock")
        .iter()
        .filter(|(key, _)| key.split_once('/').is_some_and(|(n, _)| n == ns))
        .map(|(key, app)| (key.clone(), app.clone()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let mut metadata = json!({"resourceVersion": "4711"});
    if items.len() > limit {
        metadata["continue"] = json!(format!("continue-after-{limit}"));
        metadata["remainingItemCount"] = json!(items.len() - limit);
        items.truncate(limit);
    }
    let items: Vec<Value> = items.into_iter().map(|(_, app)| app).collect();
    Json(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationList", "metadata": metadata, "items": items}))
        .into_response()
}

async fn get_app(
    State(fake): State<KubeFake>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    match fake.apps.lock().expect("lock").get(&format!("{ns}/{name}")) {
        Some(app) => Json(app.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("applications.argoproj.io \"{name}\" not found"), "reason": "NotFound",
                        "details": {"name": name, "group": "argoproj.io", "kind": "applications"}, "code": 404})),
        )
            .into_response(),
    }
}

async fn list_pods(Path(ns): Path<String>) -> Json<Value> {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "podinfo-7d9c8b5f6-x2v9q", "namespace": ns, "uid": "p-1", "resourceVersion": "99",
                     "labels": {"app": "podinfo"}, "creationTimestamp": "2026-11-21T09:00:00Z",
                     "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
        "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                                  "env": [{"name": "DB_PASSWORD", "value": "canary-s3cret-value"}]}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "podinfo", "ready": false, "restartCount": 7, "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
            "imageID": "ghcr.io/stefanprodan/podinfo@sha256:0", "started": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-11-21T09:58:00Z", "finishedAt": "2026-11-21T09:58:02Z"}}}]}
    });
    Json(
        json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "100"}, "items": [pod]}),
    )
}

async fn pod_log() -> &'static str {
    "2026-11-21T09:58:01Z starting podinfo\n2026-11-21T09:58:02Z FATAL cannot bind :9898: address already in use\n"
}

impl KubeFake {
    pub async fn start() -> KubeFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = KubeFake {
            apps: Arc::default(),
            allowed: Arc::new(Mutex::new(cluster_role_grants())),
            url: format!("http://{addr}"),
        };
        let app = Router::new()
            .route(
                "/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/{name}",
                get(get_app),
            )
            .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .route(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                post(access_review),
            )
            .route(
                "/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications",
                get(list_apps),
            )
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        fake
    }

    /// Sets an application's sync and health (with a Deployment's health message when not Healthy).
    pub fn set(&self, name: &str, sync: &str, health: &str, revision: &str) {
        let message = (health != "Healthy")
            .then(|| format!("Deployment \"{name}\" exceeded its progress deadline"));
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "uid": format!("uid-{name}"), "resourceVersion": "4711",
                         "creationTimestamp": "2026-11-01T10:00:00Z", "generation": 3},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                     "source": {"repoURL": "https://github.com/acme/infra.git", "path": format!("apps/{name}"), "targetRevision": "main"},
                     "syncPolicy": {"automated": {"prune": false, "selfHeal": true}}},
            "status": {
                "sync": {"status": sync, "revision": revision,
                         "comparedTo": {"source": {"repoURL": "https://github.com/acme/infra.git", "path": format!("apps/{name}")}}},
                "health": {"status": health},
                "resources": [
                    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": name, "name": name, "status": sync,
                     "health": match &message { Some(m) => json!({"status": health, "message": m}), None => json!({"status": "Healthy"}) }},
                    {"version": "v1", "kind": "Service", "namespace": name, "name": name, "status": "Synced", "health": {"status": "Healthy"}}
                ],
                "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)"}
            }
        });
        self.apps
            .lock()
            .expect("lock")
            .insert(format!("argocd/{name}"), app);
    }

    /// Lets the identity `verb` `resource` (`list pods`, `get pods/log`, `get secrets`, `list deployments.apps`).
    pub fn allow(&self, verb: &str, resource: &str) {
        self.allowed
            .lock()
            .expect("lock")
            .insert(permission(verb, resource));
    }

    /// Takes `verb` `resource` away from the identity.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.allowed
            .lock()
            .expect("lock")
            .remove(&permission(verb, resource));
    }
}
