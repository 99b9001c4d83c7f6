use serde_json::{Value, json};

use super::*;

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid Kubernetes object")
}

fn crashlooping_pod(reason: &str, exit: i32) -> Pod {
    typed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "payments-api-7d9c8b5f6-x2v9q", "namespace": "payments", "labels": {"app": "payments-api"}},
        "spec": {"nodeName": "sam", "containers": [{"name": "api", "image": "ghcr.io/acme/payments:1.4.2",
                  "resources": {"limits": {"memory": "128Mi"}}}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "ready": false, "restartCount": 7, "image": "ghcr.io/acme/payments:1.4.2", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=api"}},
            "lastState": {"terminated": {"exitCode": exit, "reason": reason, "startedAt": "2026-11-21T09:58:00Z", "finishedAt": "2026-11-21T09:58:02Z"}}}]}
    }))
}

fn event(kind: &str, ns: &str, name: &str, reason: &str, message: &str) -> Event {
    typed(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.1"), "namespace": ns},
        "involvedObject": {"kind": kind, "namespace": ns, "name": name},
        "reason": reason, "message": message, "type": "Warning", "count": 12
    }))
}

fn snapshot() -> Snapshot {
    Snapshot {
        namespaces: vec!["payments".into(), "podinfo".into(), "kube-system".into()],
        ..Snapshot::default()
    }
}

fn scoped(question: &str, s: &Snapshot) -> Vec<Finding> {
    analyze(s, &scope(question, s))
}

#[test]
fn partial_names_resolve_to_namespaces_pods_and_deployments() {
    let mut s = snapshot();
    s.pods.push(crashlooping_pod("Error", 1));
    let sc = scope("@aura why is payments crashlooping?", &s);
    assert_eq!(sc.terms, ["payments"]);
    assert!(sc.namespaces.contains("payments"));
    assert!(sc.covers("payments", "anything"));
    assert!(!sc.covers("podinfo", "podinfo"));
    let sc = scope("what about payments-api?", &s);
    assert!(
        sc.namespaces.contains("payments"),
        "a longer name finds its namespace"
    );
    assert!(sc.covers("other", "payments-api-7d9c8b5f6-x2v9q"));
    let none = scope("why is the sky blue", &s);
    assert!(none.is_everything() && none.covers("podinfo", "x"));
}

#[test]
fn a_crashloop_names_exit_code_reason_restarts_and_the_last_log_lines() {
    let mut s = snapshot();
    s.pods.push(crashlooping_pod("Error", 1));
    s.logs.insert(
        "payments/payments-api-7d9c8b5f6-x2v9q/api".into(),
        "line 1\nline 2\nline 3\nline 4\nstarting\nFATAL cannot connect to db: connection refused\n".into(),
    );
    s.events.push(event(
        "Pod",
        "payments",
        "payments-api-7d9c8b5f6-x2v9q",
        "BackOff",
        "Back-off restarting failed container api",
    ));
    let f = scoped("why is payments crashlooping?", &s);
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object, "Pod payments/payments-api-7d9c8b5f6-x2v9q");
    assert!(
        f.summary
            .contains("CrashLoopBackOff after 7 restarts; last exit code 1 (Error)"),
        "{}",
        f.summary
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("last termination: exit code 1, reason Error"))
    );
    let logs: Vec<_> = f
        .evidence
        .iter()
        .filter(|e| e.starts_with("log "))
        .collect();
    assert_eq!(logs.len(), LOG_LINES);
    assert!(logs[LOG_LINES - 1].ends_with("FATAL cannot connect to db: connection refused"));
    assert!(
        f.evidence
            .iter()
            .any(|e| e == "event BackOff: Back-off restarting failed container api (×12)")
    );
}

#[test]
fn an_oom_kill_names_the_memory_limit() {
    let mut s = snapshot();
    s.pods.push(crashlooping_pod("OOMKilled", 137));
    let f = scoped("payments", &s);
    assert!(
        f[0].summary.contains("last exit code 137 (OOMKilled)"),
        "{f:?}"
    );
    assert!(f[0].evidence.contains(&"memory limit: 128Mi".to_owned()));
    // Running again after the kill: still reported as OOMKilled.
    let mut pod = crashlooping_pod("OOMKilled", 137);
    let st = pod
        .status
        .as_mut()
        .and_then(|s| s.container_statuses.as_mut())
        .expect("statuses");
    st[0].state = Some(typed(
        json!({"running": {"startedAt": "2026-11-21T10:00:00Z"}}),
    ));
    s.pods = vec![pod];
    let f = scoped("payments", &s);
    assert!(f[0].summary.contains("OOMKilled"), "{f:?}");
}

#[test]
fn an_image_pull_failure_names_the_image_and_the_event() {
    let mut s = snapshot();
    s.pods.push(typed(json!({
        "metadata": {"name": "podinfo-5f7b-abcde", "namespace": "podinfo"},
        "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:9.9.9"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                   "containerStatuses": [{"name": "podinfo", "ready": false, "restartCount": 0, "image": "ghcr.io/stefanprodan/podinfo:9.9.9", "imageID": "",
                   "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/stefanprodan/podinfo:9.9.9\""}}}]}
    })));
    s.events.push(event(
        "Pod",
        "podinfo",
        "podinfo-5f7b-abcde",
        "Failed",
        "Failed to pull image \"ghcr.io/stefanprodan/podinfo:9.9.9\": not found",
    ));
    let f = scoped("podinfo down", &s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].summary
            .contains("cannot pull image ghcr.io/stefanprodan/podinfo:9.9.9 (ImagePullBackOff)")
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.contains("event Failed: Failed to pull image"))
    );
}

#[test]
fn a_pending_pod_cites_the_schedulers_events() {
    let mut s = snapshot();
    s.pods.push(typed(json!({
        "metadata": {"name": "payments-worker-0", "namespace": "payments"},
        "spec": {"containers": [{"name": "w", "image": "w"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                   "message": "0/3 nodes are available: 3 Insufficient memory."}]}
    })));
    s.events.push(event(
        "Pod",
        "payments",
        "payments-worker-0",
        "FailedScheduling",
        "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available",
    ));
    let f = scoped("payments", &s);
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].summary,
        "Pending: the scheduler cannot place it (Unschedulable)"
    );
    assert!(
        f[0].evidence[0]
            .starts_with("event FailedScheduling: 0/3 nodes are available: 3 Insufficient memory.")
    );
}

#[test]
fn a_stuck_rollout_and_unavailable_replicas_are_reported() {
    let mut s = snapshot();
    s.deployments.push(typed(json!({
        "metadata": {"name": "payments-api", "namespace": "payments"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "payments-api"}}, "template": {"spec": {"containers": []}}},
        "status": {"replicas": 3, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "unavailableReplicas": 2,
                   "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                                  {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                   "message": "ReplicaSet \"payments-api-7d9c8b5f6\" has timed out progressing."}]}
    })));
    let f = scoped("payments", &s);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(
        f[0].summary,
        "the rollout is stuck (ProgressDeadlineExceeded)"
    );
    assert!(f[0].evidence[0].contains("has timed out progressing"));
    assert_eq!(f[1].summary, "2 of 3 replicas unavailable");
}

#[test]
fn a_service_without_ready_endpoints_and_an_ingress_without_its_service_are_reported() {
    let mut s = snapshot();
    s.services.push(typed(
        json!({"metadata": {"name": "payments-api", "namespace": "payments"},
        "spec": {"selector": {"app": "payments-api"}, "ports": [{"port": 80}]}}),
    ));
    s.services.push(typed(
        json!({"metadata": {"name": "payments-db", "namespace": "payments"},
        "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432}]}}),
    ));
    s.services.push(typed(
        json!({"metadata": {"name": "external", "namespace": "payments"},
        "spec": {"type": "ExternalName", "externalName": "example.org"}}),
    ));
    s.endpoints.push(typed(
        json!({"metadata": {"name": "payments-api", "namespace": "payments"},
        "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.7"}], "ports": [{"port": 8080}]}]}),
    ));
    s.endpoints.push(typed(
        json!({"metadata": {"name": "payments-db", "namespace": "payments"},
        "subsets": [{"addresses": [{"ip": "10.0.0.8"}], "ports": [{"port": 5432}]}]}),
    ));
    s.ingresses.push(typed(json!({"metadata": {"name": "payments", "namespace": "payments"},
        "spec": {"rules": [{"host": "pay.example.org", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "payments-api", "port": {"number": 80}}}},
            {"path": "/v2", "pathType": "Prefix", "backend": {"service": {"name": "payments-v2", "port": {"number": 80}}}}]}}]}})));
    let f = scoped("payments", &s);
    let summaries: Vec<(&str, &str)> = f
        .iter()
        .map(|f| (f.object.as_str(), f.summary.as_str()))
        .collect();
    assert_eq!(
        summaries,
        [
            (
                "Service payments/payments-api",
                "no ready endpoints: requests to it fail"
            ),
            (
                "Ingress payments/payments",
                "its backend Service payments-v2 does not exist"
            ),
        ]
    );
    assert!(f[0].evidence[0].contains("0 ready, 1 not ready; selector app=payments-api"));
}

#[test]
fn a_pending_claim_a_degraded_app_and_node_pressure_are_reported() {
    let mut s = snapshot();
    s.pvcs.push(typed(json!({"metadata": {"name": "data-payments-db-0", "namespace": "payments"},
        "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
        "status": {"phase": "Pending"}})));
    s.events.push(event(
        "PersistentVolumeClaim",
        "payments",
        "data-payments-db-0",
        "ProvisioningFailed",
        "storageclass.storage.k8s.io \"fast-ssd\" not found",
    ));
    s.apps.push(App {
        name: "payments".into(),
        destination: Some("payments".into()),
        state: AppState {
            health: "Degraded".into(),
            sync: "OutOfSync".into(),
            revision: Some("abc123".into()),
            unhealthy: vec![
                "Deployment/payments-api: Degraded — exceeded its progress deadline".into(),
            ],
        },
    });
    s.nodes.push(typed(json!({"metadata": {"name": "sam"}, "status": {"conditions": [
        {"type": "Ready", "status": "True"},
        {"type": "DiskPressure", "status": "True", "reason": "KubeletHasDiskPressure", "message": "kubelet has disk pressure"}]}})));
    s.nodes.push(typed(json!({"metadata": {"name": "frodo"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}})));
    let f = scoped("payments", &s);
    let objects: Vec<&str> = f.iter().map(|f| f.object.as_str()).collect();
    assert_eq!(
        objects,
        [
            "Argo CD Application payments",
            "Node frodo",
            "PersistentVolumeClaim payments/data-payments-db-0",
            "Node sam",
        ]
    );
    assert_eq!(f[0].summary, "Degraded and OutOfSync");
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.contains("exceeded its progress deadline"))
    );
    assert_eq!(f[1].summary, "NotReady");
    assert!(
        f[2].evidence
            .iter()
            .any(|e| e.contains("\"fast-ssd\" not found"))
    );
    assert_eq!(f[3].summary, "under DiskPressure");
}

#[test]
fn healthy_objects_and_objects_out_of_scope_give_no_findings() {
    let mut s = snapshot();
    let mut other = crashlooping_pod("Error", 1);
    other.metadata.namespace = Some("podinfo".into());
    other.metadata.name = Some("podinfo-1".into());
    s.pods.push(other);
    s.pods.push(typed(json!({"metadata": {"name": "payments-ok", "namespace": "payments"},
        "spec": {"containers": [{"name": "a", "image": "a"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "image": "a", "imageID": "",
                   "state": {"running": {}}}]}})));
    assert!(scoped("payments", &s).is_empty());
    assert_eq!(
        scoped("what is broken", &s).len(),
        1,
        "no name: the whole cluster"
    );
}

#[test]
fn only_restarted_containers_in_scope_have_their_logs_read() {
    let mut s = snapshot();
    s.pods.push(crashlooping_pod("Error", 1));
    let sc = scope("payments", &s);
    assert_eq!(
        logs_wanted(&s, &sc, 3),
        [(
            "payments".to_owned(),
            "payments-api-7d9c8b5f6-x2v9q".to_owned(),
            "api".to_owned()
        )]
    );
    assert!(logs_wanted(&s, &scope("podinfo", &s), 3).is_empty());
}
