//! What a question is about: its words matched against live names, tolerant of partial names.

use std::collections::BTreeSet;

use super::{Snapshot, name_of};

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
