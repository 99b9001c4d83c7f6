//! Pod analyzers: crash loops, image pulls, OOM kills, unschedulable pods, with logs and events as evidence.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

use super::{Finding, LOG_LINES, Scope, Severity, Snapshot, events_for, name_of, ns_of};

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

fn terminated_last(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    c.last_state.as_ref().and_then(|s| s.terminated.as_ref())
}

fn waiting_reason(c: &ContainerStatus) -> Option<(&str, Option<&str>)> {
    let w = c.state.as_ref()?.waiting.as_ref()?;
    Some((w.reason.as_deref()?, w.message.as_deref()))
}

fn memory_limit(pod: &Pod, container: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let c = spec.containers.iter().find(|c| c.name == container)?;
    let limits = c.resources.as_ref()?.limits.as_ref()?;
    limits.get("memory").map(|q| q.0.clone())
}

pub(super) fn pod_findings(pod: &Pod, s: &Snapshot) -> Vec<Finding> {
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
