//! The install artefacts in deploy/: least-privilege RBAC, a hardened Deployment, configs Aura accepts, a Secret
//! without values, and a dashboard that only queries metrics Aura exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aura::config::load_from;
use aura::metrics::Metrics;
use serde::Deserialize;
use serde_json::{Value, json};

const NAMESPACE: &str = "aura";
/// The verbs a read-only role may grant.
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
/// Resources that hold or reach secrets or code: never in Aura's role.
const FORBIDDEN_RESOURCES: [&str; 8] = [
    "secrets",
    "configmaps",
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "pods/proxy",
    "services/proxy",
    "nodes/proxy",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Every YAML document of a file, as JSON values.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Every object in deploy/kubernetes/.
fn manifests() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in deploy/kubernetes");
    files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(f).expect("read manifest")))
        .collect()
}

/// The one object of `kind` in deploy/kubernetes/.
fn object(kind: &str) -> Value {
    let mut found: Vec<Value> = manifests()
        .into_iter()
        .filter(|o| o["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found.remove(0)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Everything that makes a ClusterRole more than read-only, or lets it read secrets.
fn rbac_violations(role: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if !role["aggregationRule"].is_null() {
        found.push("an aggregationRule pulls in other roles' rules".to_owned());
    }
    for (i, rule) in role["rules"].as_array().into_iter().flatten().enumerate() {
        if !rule["nonResourceURLs"].is_null() {
            found.push(format!("rule {i} grants nonResourceURLs"));
        }
        let groups = strings(&rule["apiGroups"]);
        let resources = strings(&rule["resources"]);
        let verbs = strings(&rule["verbs"]);
        for w in groups.iter().chain(&resources).chain(&verbs) {
            if w.contains('*') {
                found.push(format!("rule {i} has the wildcard {w:?}"));
            }
        }
        for v in &verbs {
            if !READ_VERBS.contains(v) {
                found.push(format!("rule {i} grants the verb {v:?}"));
            }
        }
        for r in &resources {
            if FORBIDDEN_RESOURCES.contains(r) {
                found.push(format!("rule {i} grants {r}"));
            } else if r.contains('/') && *r != "pods/log" {
                found.push(format!("rule {i} grants the subresource {r}"));
            }
        }
    }
    found
}

/// Whether the role lets Aura do `verb` on `resource` in API group `group`.
fn grants(role: &Value, group: &str, resource: &str, verb: &str) -> bool {
    role["rules"].as_array().into_iter().flatten().any(|rule| {
        strings(&rule["apiGroups"]).contains(&group)
            && strings(&rule["resources"]).contains(&resource)
            && strings(&rule["verbs"]).contains(&verb)
    })
}

#[test]
fn the_cluster_role_is_read_only_and_never_reads_secrets() {
    let role = object("ClusterRole");
    assert_eq!(rbac_violations(&role), Vec::<String>::new());
    let binding = object("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "aura", "namespace": NAMESPACE}])
    );
    let pod = &object("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "aura");
    assert_eq!(object("ServiceAccount")["metadata"]["name"], "aura");
}

#[test]
fn the_cluster_role_grants_what_the_tools_read() {
    let role = object("ClusterRole");
    for (group, resource, verb) in [
        ("", "pods/log", "get"),
        ("", "pods", "list"),
        ("", "events", "list"),
        ("", "nodes", "get"),
        ("apps", "deployments", "get"),
        ("batch", "jobs", "list"),
        ("networking.k8s.io", "ingresses", "get"),
        ("argoproj.io", "applications", "watch"),
        ("argoproj.io", "applications", "list"),
    ] {
        assert!(
            grants(&role, group, resource, verb),
            "the role must allow {verb} on {resource} ({group:?})"
        );
    }
}

#[test]
fn the_rbac_check_catches_secrets_writes_exec_escalation_and_wildcards() {
    let role = object("ClusterRole");
    let with = |rule: Value| {
        let mut r = role.clone();
        r["rules"].as_array_mut().expect("rules").push(rule.clone());
        let found = rbac_violations(&r);
        assert!(!found.is_empty(), "{rule} went unnoticed");
    };
    with(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}));
    with(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}));
    with(json!({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}));
    with(json!({"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get"]}));
    with(json!({"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get"]}));
    with(json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}));
    with(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}));
    with(json!({"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}));
    with(
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["escalate"]}),
    );
    with(
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}),
    );
    with(json!({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}));
    with(json!({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}));
    with(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}));
    with(json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}));
}

/// The pod's container, with its pod spec.
fn container() -> (Value, Value) {
    let deployment = object("Deployment");
    let pod = deployment["spec"]["template"]["spec"].clone();
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    (pod.clone(), containers[0].clone())
}

#[test]
fn the_deployment_runs_unprivileged_with_probes_and_resources() {
    let deployment = object("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1, "SQLite has one writer");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let (pod, c) = container();
    let (psc, csc) = (&pod["securityContext"], &c["securityContext"]);
    // A container's setting wins over the pod's.
    let effective = |field: &str| match &csc[field] {
        Value::Null => psc[field].clone(),
        set => set.clone(),
    };
    assert_eq!(effective("runAsNonRoot"), true);
    assert_eq!(effective("runAsUser"), 10001, "the image's user");
    assert_eq!(effective("seccompProfile")["type"], "RuntimeDefault");
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_ne!(csc["privileged"], true);
    assert_eq!(csc["capabilities"]["drop"], json!(["ALL"]));
    assert!(csc["capabilities"]["add"].is_null(), "adds no capability");
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "it reads the cluster"
    );

    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let port = &c["ports"][0];
    assert_eq!(
        (port["name"].as_str(), port["containerPort"].as_u64()),
        (Some("http"), Some(8080))
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "http");
    }
    for kind in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][what].is_string(),
                "resources.{kind}.{what}"
            );
        }
    }

    let service = object("Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    for (k, v) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&deployment["spec"]["template"]["metadata"]["labels"][k], v);
    }
}

#[test]
fn the_deployment_mounts_config_data_and_tmp_and_nothing_else_is_writable() {
    let (pod, c) = container();
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == name).cloned())
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    let mounts: Vec<(String, String, bool)> = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().expect("path").to_owned(),
                m["name"].as_str().expect("name").to_owned(),
                m["readOnly"] == true,
            )
        })
        .collect();
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m.0 == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
            .clone()
    };
    let (_, config, read_only) = mount("/etc/aura");
    assert!(read_only, "the config is mounted read-only");
    assert_eq!(
        volume(&config)["configMap"]["name"],
        object("ConfigMap")["metadata"]["name"]
    );
    let (_, data, _) = mount("/var/lib/aura");
    assert_eq!(
        volume(&data)["persistentVolumeClaim"]["claimName"],
        object("PersistentVolumeClaim")["metadata"]["name"]
    );
    let (_, tmp, _) = mount("/tmp");
    assert!(volume(&tmp)["emptyDir"].is_object());
    assert_eq!(mounts.len(), 3, "{mounts:?}");

    for o in manifests() {
        let kind = o["kind"].as_str().unwrap_or_default();
        if !matches!(kind, "Namespace" | "ClusterRole" | "ClusterRoleBinding") {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{kind}");
        }
    }
}

/// `ENV` settings of the runtime image in deploy/Dockerfile.
fn image_env() -> Vec<(String, String)> {
    let dockerfile = read("deploy/Dockerfile").replace("\\\n", " ");
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, r)| r.to_owned())
        .expect("a runtime stage");
    runtime
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Dummy values for the Secret's keys, shaped like the real ones.
fn dummy_secret(key: &str) -> String {
    match key {
        "api-token" => "dummy-api-token".into(),
        "telegram-token" => "123456:dummy".into(),
        "database-url" => "postgres://aura:dummy@db:5432/aura".into(),
        other => panic!("the Secret key {other:?} needs a dummy value in this test"),
    }
}

/// The environment the container sees: the image's ENV, then the Deployment's (secrets as dummies; optional
/// ones only if `optional_too`), with /usr/share/aura (where the image copies bots/ and prompts/) mapped to the repo.
fn container_env(optional_too: bool) -> Vec<(String, String)> {
    let (_, c) = container();
    let mut env = image_env();
    for e in c["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("name").to_owned();
        let key = &e["valueFrom"]["secretKeyRef"];
        let value = match e["value"].as_str() {
            Some(v) => v.to_owned(),
            None if key["optional"] == true && !optional_too => continue,
            None => dummy_secret(key["key"].as_str().expect("secret key")),
        };
        env.retain(|(k, _)| *k != name);
        env.push((name, value));
    }
    let root = format!("{}/", env!("CARGO_MANIFEST_DIR"));
    env.into_iter()
        .map(|(k, v)| (k, v.replacen("/usr/share/aura/", &root, 1)))
        .collect()
}

fn aura_env(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .filter(|(k, _)| k.starts_with("AURA__"))
        .cloned()
        .collect()
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("aura.toml");
    std::fs::write(&path, body).expect("write config");
    path
}

#[test]
fn the_config_map_is_a_config_aura_accepts_with_the_deployment_env() {
    let dockerfile = read("deploy/Dockerfile");
    for dir in ["bots", "prompts"] {
        assert!(dockerfile.contains(&format!("COPY {dir}/ /usr/share/aura/{dir}/")));
    }
    let body = object("ConfigMap")["data"]["aura.toml"]
        .as_str()
        .expect("aura.toml in the ConfigMap")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(dir.path(), &body);

    let env = container_env(false);
    let config_path = env
        .iter()
        .find(|(k, _)| k == "AURA_CONFIG")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        config_path,
        Some("/etc/aura/aura.toml"),
        "where the ConfigMap is mounted"
    );
    let minimal = load_from(Some(&file), aura_env(&env))
        .unwrap_or_else(|p| panic!("the ConfigMap's aura.toml is rejected:\n{p}"))
        .config;
    assert_eq!(
        minimal.database.url, "sqlite:///var/lib/aura/aura.db",
        "on the PVC"
    );
    assert_eq!(
        minimal.http.listen, "0.0.0.0:8080",
        "the containerPort, on every interface"
    );
    assert!(!minimal.telegram.is_on());

    let full = load_from(Some(&file), aura_env(&container_env(true)))
        .unwrap_or_else(|p| panic!("rejected with every Secret key set:\n{p}"))
        .config;
    assert!(full.telegram.is_on());
    assert!(full.database.url.starts_with("postgres://"));

    let without_token: Vec<_> = aura_env(&env)
        .into_iter()
        .filter(|(k, _)| k != "AURA__HTTP__API_TOKEN")
        .collect();
    let problems =
        load_from(Some(&file), without_token).expect_err("a public listener needs a token");
    assert!(
        problems.0.iter().any(|p| p.contains("api_token")),
        "{problems}"
    );
}

#[test]
fn the_image_and_helm_default_configs_are_accepted_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = aura_env(&container_env(false));
    env.retain(|(k, _)| k.starts_with("AURA__BOTS") || k.starts_with("AURA__PROMPTS"));
    env.push(("AURA__HTTP__API_TOKEN".into(), "dummy".into()));

    let image = write_config(dir.path(), &read("deploy/aura.toml"));
    let c = load_from(Some(&image), env.clone())
        .unwrap_or_else(|p| panic!("deploy/aura.toml is rejected:\n{p}"))
        .config;
    assert_eq!(
        c.database.url, "sqlite:///var/lib/aura/aura.db",
        "on the image's volume"
    );

    let values = documents(&read("deploy/helm/aura/values.yaml")).remove(0);
    let helm = write_config(dir.path(), values["config"].as_str().expect("config"));
    load_from(Some(&helm), env).unwrap_or_else(|p| panic!("the chart's config is rejected:\n{p}"));
}

#[test]
fn the_secret_names_its_keys_and_holds_no_values() {
    let secret = object("Secret");
    assert_eq!(secret["metadata"]["name"], "aura-secrets");
    for field in ["data", "stringData"] {
        for (k, v) in secret[field].as_object().into_iter().flatten() {
            assert!(
                v.is_null() || v == "",
                "secret.yaml must not carry a value ({field}.{k})"
            );
        }
    }
    let listed = |annotation: &str| -> BTreeSet<String> {
        secret["metadata"]["annotations"][annotation]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect()
    };
    let (required, optional) = (listed("aura/required-keys"), listed("aura/optional-keys"));
    assert!(required.contains("api-token"), "{required:?}");

    let (_, c) = container();
    let mut used_required = BTreeSet::new();
    for e in c["env"].as_array().expect("env") {
        let r = &e["valueFrom"]["secretKeyRef"];
        if r.is_null() {
            continue;
        }
        assert_eq!(r["name"], "aura-secrets");
        let key = r["key"].as_str().expect("key").to_owned();
        if r["optional"] == true {
            assert!(
                optional.contains(&key),
                "{key} is optional in the Deployment: list it in aura/optional-keys"
            );
        } else {
            assert!(
                required.contains(&key),
                "{key} is required by the Deployment: list it in aura/required-keys"
            );
            used_required.insert(key);
        }
    }
    assert_eq!(
        used_required, required,
        "every required key is used, and as required"
    );
}

/// Metric names an expression mentions (`aura_` followed by lowercase letters, digits and underscores).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("aura_").map(|n| n + i) {
        let starts_word =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let end = expr[at..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .map_or(expr.len(), |n| n + at);
        if starts_word {
            names.push(expr[at..end].to_owned());
        }
        i = end;
    }
    names
}

/// Every query string of a dashboard: panel `expr`s and template variable queries.
fn queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => queries(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| queries(i, out)),
        _ => {}
    }
}

#[test]
fn every_dashboard_query_names_an_exported_metric() {
    assert_eq!(
        metric_names("sum(rate(aura_x_total{a=\"aura\"}[5m])) / laura_y + aura_z"),
        ["aura_x_total", "aura_z"]
    );
    let dashboard: Value = serde_json::from_str(&read("deploy/grafana/aura.json")).expect("JSON");
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let used: BTreeSet<String> = all.iter().flat_map(|q| metric_names(q)).collect();
    assert!(
        used.len() >= 5,
        "the dashboard queries Aura's metrics: {used:?}"
    );
    let exported = Metrics::exported_names();
    let unknown: Vec<&String> = used
        .iter()
        .filter(|m| !exported.contains(&m.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics Aura does not export: {unknown:?}"
    );
    let datasource_variable = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .any(|v| v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource");
    assert!(datasource_variable, "panels use ${{DS_PROMETHEUS}}");
}
