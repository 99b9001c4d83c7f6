//! Argo CD through the Kubernetes API: reading `applications.argoproj.io` objects and what their status says.

use anyhow::Context;
use kube::api::{ApiResource, DynamicObject};
use kube::{Api, Client};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::KubernetesConfig;

/// The Argo CD Application resource.
fn application() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

/// The Applications in `namespace`, for reads and watches.
pub fn applications(client: Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &application())
}

/// What an Application's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    /// Healthy, Progressing, Degraded, Suspended, Missing, Unknown.
    pub health: String,
    /// Synced, OutOfSync, Unknown.
    pub sync: String,
    /// The revision it is synced to.
    pub revision: Option<String>,
    /// Resources that are not healthy: `Kind/name: status — message`.
    pub unhealthy: Vec<String>,
}

impl AppState {
    /// Reads the state from an Application object's JSON.
    pub fn from_object(obj: &Value) -> AppState {
        let status = &obj["status"];
        let text = |v: &Value| v.as_str().unwrap_or("Unknown").to_owned();
        let unhealthy = status["resources"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter(|r| !r["health"].is_null() && r["health"]["status"] != "Healthy")
                    .map(|r| {
                        let message = r["health"]["message"]
                            .as_str()
                            .map(|m| format!(" — {m}"))
                            .unwrap_or_default();
                        format!(
                            "{}/{}: {}{message}",
                            text(&r["kind"]),
                            text(&r["name"]),
                            text(&r["health"]["status"])
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        AppState {
            health: text(&status["health"]["status"]),
            sync: text(&status["sync"]["status"]),
            revision: status["sync"]["revision"].as_str().map(str::to_owned),
            unhealthy,
        }
    }
}

/// Reads Argo CD Applications in one namespace.
#[derive(Clone)]
pub struct Argo {
    client: Client,
    namespace: String,
}

impl std::fmt::Debug for Argo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argo")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// A Kubernetes client from `[kubernetes]`: an explicit API URL (and token), a kubeconfig, or the usual inference
/// (in-cluster service account, then `$KUBECONFIG`).
pub async fn client(config: &KubernetesConfig) -> anyhow::Result<Client> {
    let kc = if let Some(url) = &config.api_url {
        let mut c = kube::Config::new(url.parse().context("kubernetes.api_url is not a URL")?);
        if let Some(token) = &config.token {
            c.auth_info.token = Some(token.expose_secret().to_owned().into());
        }
        c
    } else if let Some(path) = &config.kubeconfig {
        let file = kube::config::Kubeconfig::read_from(path)
            .context("cannot read kubernetes.kubeconfig")?;
        let options = kube::config::KubeConfigOptions {
            context: config.context.clone(),
            ..Default::default()
        };
        kube::Config::from_custom_kubeconfig(file, &options).await?
    } else {
        kube::Config::infer()
            .await
            .context("no Kubernetes configuration found (set [kubernetes])")?
    };
    Client::try_from(kc).context("cannot build the Kubernetes client")
}

impl Argo {
    /// Applications in `namespace`.
    pub fn new(client: Client, namespace: &str) -> Argo {
        Argo {
            client,
            namespace: namespace.to_owned(),
        }
    }

    /// The state of Application `name`, or None when there is none.
    pub async fn app(&self, name: &str) -> anyhow::Result<Option<AppState>> {
        let obj = applications(self.client.clone(), &self.namespace)
            .get_opt(name)
            .await
            .with_context(|| format!("cannot read Argo CD application {name}"))?;
        Ok(obj.map(|o| AppState::from_object(&serde_json::to_value(&o).unwrap_or_default())))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_status_names_health_sync_revision_and_the_unhealthy_resources() {
        let app = json!({"status": {
        "health": {"status": "Degraded"},
        "sync": {"status": "Synced", "revision": "abc123"},
        "resources": [
            {"kind": "Service", "name": "podinfo", "health": {"status": "Healthy"}},
            {"kind": "Deployment", "name": "podinfo", "health": {"status": "Degraded", "message": "Deployment \"podinfo\" exceeded its progress deadline"}},
            {"kind": "ConfigMap", "name": "podinfo"}
        ]}});
        let s = AppState::from_object(&app);
        assert_eq!(
            (s.health.as_str(), s.sync.as_str(), s.revision.as_deref()),
            ("Degraded", "Synced", Some("abc123"))
        );
        assert_eq!(
            s.unhealthy,
            [
                "Deployment/podinfo: Degraded — Deployment \"podinfo\" exceeded its progress deadline"
            ]
        );
        assert_eq!(AppState::from_object(&json!({})).health, "Unknown");
    }
}
