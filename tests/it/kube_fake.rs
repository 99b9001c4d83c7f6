//! A Kubernetes API fake serving Argo CD `Application` objects (the real shape) to the real kube client — list,
//! get, and watch (`?watch=1` streams `WatchEvent` lines from a resourceVersion) — and answering
//! `SelfSubjectAccessReview`s from an allow-list (by default what Aura's ClusterRole grants).
//!
//! Any other object (pods, deployments, services, endpoints, PVCs, ingresses, events, nodes, namespaces) can be
//! put in a generic store and is then served by list (namespaced and cluster-wide, with label and field
//! selectors) and get, with per-container logs (current and `previous=true`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// A change as a watch event: `(resourceVersion, type, object)`.
type WatchEvent = (u64, &'static str, Value);

/// (plural, namespace or "" for cluster-scoped kinds, name).
type ObjectKey = (String, String, String);

/// A running fake with scripted applications.
#[derive(Clone)]
pub struct KubeFake {
    apps: Arc<Mutex<HashMap<String, Value>>>,
    /// Every application change as a watch event `(resourceVersion, type, object)`, and its live feed.
    history: Arc<Mutex<Vec<WatchEvent>>>,
    changes: tokio::sync::broadcast::Sender<WatchEvent>,
    /// Open watch streams on applications.
    pub watches: Arc<std::sync::atomic::AtomicUsize>,
    /// What the identity may do: (verb, API group, resource or resource/subresource), in every namespace.
    allowed: Arc<Mutex<BTreeSet<(String, String, String)>>>,
    /// Generic objects by (plural, namespace or "", name).
    objects: Arc<Mutex<BTreeMap<ObjectKey, Value>>>,
    /// Container logs by `namespace/pod/container/previous`.
    logs: Arc<Mutex<HashMap<String, String>>>,
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

/// A watch on applications: the changes after `resourceVersion` in `ns`, then live ones, one JSON
/// `WatchEvent` per line, until `timeoutSeconds` or the client goes away.
fn watch_apps(fake: KubeFake, ns: String, query: &HashMap<String, String>) -> Response {
    use futures::StreamExt;
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(290u64);
    let (replay, live) = {
        let history = fake.history.lock().expect("lock");
        let replay: Vec<_> = history.iter().filter(|e| e.0 > from).cloned().collect();
        (replay, fake.changes.subscribe())
    };
    let in_ns = move |obj: &Value| obj["metadata"]["namespace"] == ns.as_str();
    let in_ns2 = in_ns.clone();
    let live = tokio_stream::wrappers::BroadcastStream::new(live)
        .filter_map(move |e| futures::future::ready(e.ok().filter(|e| e.0 > from && in_ns2(&e.2))));
    let counter = fake.watches.clone();
    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let guard = WatchGuard(counter);
    let lines = futures::stream::iter(replay.into_iter().filter(move |e| in_ns(&e.2)))
        .chain(live)
        .map(move |(_, kind, obj)| {
            let _alive = &guard;
            Ok::<_, std::convert::Infallible>(format!("{}\n", json!({"type": kind, "object": obj})))
        })
        .take_until(tokio::time::sleep(std::time::Duration::from_secs(timeout)));
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(lines))
        .expect("response")
}

/// Counts an open watch until its stream is dropped.
struct WatchGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications`: an `ApplicationList`, honouring `limit`, or a
/// watch with `watch=1`; 403 when `list applications.argoproj.io` is not allowed.
async fn list_apps(
    State(fake): State<KubeFake>,
    Path(ns): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch_apps(fake, ns, &query);
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
    let version = fake.history.lock().expect("lock").last().map_or(1, |e| e.0);
    let mut metadata = json!({"resourceVersion": version.to_string()});
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

async fn list_pods(
    State(fake): State<KubeFake>,
    Path(ns): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    if fake.has("pods") {
        return Json(fake.list("v1", "pods", Some(&ns), &query));
    }
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

async fn pod_log(
    State(fake): State<KubeFake>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let previous = query.get("previous").is_some_and(|p| p == "true");
    let container = query.get("container").cloned().unwrap_or_default();
    let scripted = fake
        .logs
        .lock()
        .expect("lock")
        .get(&format!("{ns}/{name}/{container}/{previous}"))
        .cloned();
    match scripted {
        Some(log) => {
            let tail = query
                .get("tailLines")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            let lines: Vec<&str> = log.lines().collect();
            let kept = lines[lines.len().saturating_sub(tail)..].join("\n");
            format!("{kept}\n").into_response()
        }
        None if fake.has("pods") => not_found("pods", &name),
        None => "2026-11-21T09:58:01Z starting podinfo\n2026-11-21T09:58:02Z FATAL cannot bind :9898: address already in use\n".into_response(),
    }
}

fn not_found(plural: &str, name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("{plural} \"{name}\" not found"), "reason": "NotFound",
                    "details": {"name": name, "kind": plural}, "code": 404}),
        ),
    )
        .into_response()
}

/// The plural resource name of a kind, as it appears in API paths.
fn plural(kind: &str) -> String {
    match kind {
        "Endpoints" => "endpoints".into(),
        "Ingress" => "ingresses".into(),
        other => format!("{}s", other.to_ascii_lowercase()),
    }
}

/// Whether `obj` matches `labelSelector` (`k=v,k2=v2`) and `fieldSelector` (`a.b=c`) equality selectors.
fn selected(obj: &Value, query: &HashMap<String, String>) -> bool {
    let pairs = |s: Option<&String>| -> Vec<(String, String)> {
        s.into_iter()
            .flat_map(|s| s.split(','))
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim_end_matches('=').to_owned(), v.to_owned()))
            .collect()
    };
    let labels_ok = pairs(query.get("labelSelector"))
        .iter()
        .all(|(k, v)| obj["metadata"]["labels"][k].as_str() == Some(v));
    let fields_ok = pairs(query.get("fieldSelector")).iter().all(|(k, v)| {
        let pointer = format!("/{}", k.replace('.', "/"));
        obj.pointer(&pointer).and_then(Value::as_str) == Some(v)
    });
    labels_ok && fields_ok
}

/// Every path the explicit routes do not serve: list and get of the generic store, in the API's URL shapes
/// (`/api/v1/...`, `/apis/{group}/{version}/...`, namespaced or cluster-wide).
async fn generic(
    State(fake): State<KubeFake>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (api_version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match rest {
        [plural] => Json(fake.list(&api_version, plural, None, &query)).into_response(),
        ["namespaces", ns] => fake.get("namespaces", "", ns),
        ["namespaces", ns, plural] => {
            Json(fake.list(&api_version, plural, Some(ns), &query)).into_response()
        }
        ["namespaces", ns, plural, name] => fake.get(plural, ns, name),
        [plural, name] => fake.get(plural, "", name),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An Argo CD Application in its real shape, with a Deployment's health message when not Healthy.
fn application(name: &str, sync: &str, health: &str, revision: &str) -> Value {
    let message = (health != "Healthy")
        .then(|| format!("Deployment \"{name}\" exceeded its progress deadline"));
    json!({
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
    })
}

impl KubeFake {
    pub async fn start() -> KubeFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = KubeFake {
            apps: Arc::default(),
            history: Arc::default(),
            changes: tokio::sync::broadcast::channel(1024).0,
            watches: Arc::default(),
            allowed: Arc::new(Mutex::new(cluster_role_grants())),
            objects: Arc::default(),
            logs: Arc::default(),
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
            .fallback(generic)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        fake
    }

    /// Sets an application's sync and health (with a Deployment's health message when not Healthy).
    pub fn set(&self, name: &str, sync: &str, health: &str, revision: &str) {
        self.put_app(name, application(name, sync, health, revision));
    }

    /// Stores an application and tells the watches (ADDED or MODIFIED, with a new resourceVersion).
    fn put_app(&self, name: &str, mut app: Value) {
        let mut history = self.history.lock().expect("lock");
        let version = history.last().map_or(4712, |e| e.0 + 1);
        app["metadata"]["resourceVersion"] = json!(version.to_string());
        let kind = match self
            .apps
            .lock()
            .expect("lock")
            .insert(format!("argocd/{name}"), app.clone())
        {
            Some(_) => "MODIFIED",
            None => "ADDED",
        };
        history.push((version, kind, app.clone()));
        // No watcher is fine.
        let _ = self.changes.send((version, kind, app));
    }

    /// Deletes an application (a DELETED watch event).
    pub fn delete_app(&self, name: &str) {
        let mut history = self.history.lock().expect("lock");
        let version = history.last().map_or(4712, |e| e.0 + 1);
        let Some(mut app) = self
            .apps
            .lock()
            .expect("lock")
            .remove(&format!("argocd/{name}"))
        else {
            return;
        };
        app["metadata"]["resourceVersion"] = json!(version.to_string());
        history.push((version, "DELETED", app.clone()));
        let _ = self.changes.send((version, "DELETED", app));
    }

    /// Sets an application's health with its own resource message (what a real incident's details look like).
    pub fn set_with_message(&self, name: &str, health: &str, revision: &str, message: &str) {
        let mut app = application(name, "Synced", health, revision);
        app["status"]["resources"][0]["health"] = json!({"status": health, "message": message});
        self.put_app(name, app);
    }

    /// Waits until Aura holds a watch open on the applications.
    pub async fn wait_for_watch(&self) {
        for _ in 0..200 {
            if self.watches.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("nobody watched the applications");
    }

    /// Puts (or replaces) an object in the generic store, keyed by its kind, namespace and name.
    pub fn put(&self, obj: Value) {
        let kind = obj["kind"].as_str().expect("the object has a kind");
        let key = (
            plural(kind),
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            obj["metadata"]["name"]
                .as_str()
                .expect("the object has a name")
                .to_owned(),
        );
        self.objects.lock().expect("lock").insert(key, obj);
    }

    /// Scripts the log of one container: the current one, or with `previous` the last terminated one.
    pub fn set_log(&self, namespace: &str, pod: &str, container: &str, previous: bool, log: &str) {
        self.logs.lock().expect("lock").insert(
            format!("{namespace}/{pod}/{container}/{previous}"),
            log.to_owned(),
        );
    }

    fn has(&self, plural: &str) -> bool {
        self.objects
            .lock()
            .expect("lock")
            .keys()
            .any(|(p, ..)| p == plural)
    }

    /// A `<Kind>List` of the stored objects of `plural` (in `namespace`, or everywhere).
    fn list(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        query: &HashMap<String, String>,
    ) -> Value {
        let items: Vec<Value> = self
            .objects
            .lock()
            .expect("lock")
            .iter()
            .filter(|((p, ns, _), _)| p == plural && namespace.is_none_or(|want| want == ns))
            .map(|(_, obj)| obj.clone())
            .filter(|obj| selected(obj, query))
            .collect();
        let kind = items
            .first()
            .and_then(|o| o["kind"].as_str())
            .map_or_else(|| "List".to_owned(), |k| format!("{k}List"));
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": "100"}, "items": items})
    }

    fn get(&self, plural: &str, namespace: &str, name: &str) -> Response {
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        match self.objects.lock().expect("lock").get(&key) {
            Some(obj) => Json(obj.clone()).into_response(),
            None => not_found(plural, name),
        }
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
