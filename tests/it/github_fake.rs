//! A GitHub REST fake with the real JSON shapes for what Aura uses: create, list and get pull requests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    pulls: Vec<Value>,
    /// Answer the next N create calls with 502 (a GitHub outage).
    fail_creates: u32,
    creates: u32,
    /// Tokens and what they may do (`push`, the classic `X-OAuth-Scopes`); empty: every token may push, scope `repo`.
    grants: Vec<(String, bool, Option<String>)>,
    /// Repositories that exist (`owner/repo`); `None`: every one asked for.
    repos: Option<Vec<String>>,
}

/// A running fake on a random port.
#[derive(Clone)]
pub struct GitHubFake {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

#[derive(Deserialize)]
struct NewPull {
    title: String,
    head: String,
    base: String,
    body: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    head: Option<String>,
    state: Option<String>,
}

fn pull(
    number: u64,
    owner: &str,
    repo: &str,
    title: &str,
    head: &str,
    base: &str,
    body: &str,
) -> Value {
    let api = format!("https://api.github.com/repos/{owner}/{repo}/pulls/{number}");
    json!({
        "url": api, "id": 1_000_000 + number, "node_id": format!("PR_kw{number}"), "number": number,
        "html_url": format!("https://github.com/{owner}/{repo}/pull/{number}"),
        "diff_url": format!("https://github.com/{owner}/{repo}/pull/{number}.diff"),
        "state": "open", "locked": false, "title": title, "body": body,
        "user": {"login": "aura-bot", "id": 42, "node_id": "U_42", "avatar_url": "https://avatars.githubusercontent.com/u/42",
                 "gravatar_id": "", "url": "https://api.github.com/users/aura-bot", "html_url": "https://github.com/aura-bot",
                 "followers_url": "https://api.github.com/users/aura-bot/followers",
                 "following_url": "https://api.github.com/users/aura-bot/following{/other_user}",
                 "gists_url": "https://api.github.com/users/aura-bot/gists{/gist_id}",
                 "starred_url": "https://api.github.com/users/aura-bot/starred{/owner}{/repo}",
                 "subscriptions_url": "https://api.github.com/users/aura-bot/subscriptions",
                 "organizations_url": "https://api.github.com/users/aura-bot/orgs",
                 "repos_url": "https://api.github.com/users/aura-bot/repos",
                 "events_url": "https://api.github.com/users/aura-bot/events{/privacy}",
                 "received_events_url": "https://api.github.com/users/aura-bot/received_events",
                 "type": "User", "site_admin": false},
        "created_at": "2026-11-21T10:00:00Z", "updated_at": "2026-11-21T10:00:00Z", "closed_at": null, "merged_at": null,
        "merge_commit_sha": null, "draft": false, "merged": false,
        "head": {"label": format!("{owner}:{head}"), "ref": head, "sha": "0000000000000000000000000000000000000000"},
        "base": {"label": format!("{owner}:{base}"), "ref": base, "sha": "0000000000000000000000000000000000000000"}
    })
}

async fn create(
    State(fake): State<GitHubFake>,
    Path((owner, repo)): Path<(String, String)>,
    Json(new): Json<NewPull>,
) -> Response {
    let mut inner = fake.inner.lock().expect("lock");
    inner.creates += 1;
    if inner.fail_creates > 0 {
        inner.fail_creates -= 1;
        return (
            StatusCode::BAD_GATEWAY,
            Json(json!({"message": "Server Error"})),
        )
            .into_response();
    }
    if inner
        .pulls
        .iter()
        .any(|p| p["head"]["ref"] == new.head.as_str() && p["state"] == "open")
    {
        let message = format!("A pull request already exists for {owner}:{}.", new.head);
        let body = json!({"message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "422"});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    let number = inner.pulls.len() as u64 + 1;
    let pr = pull(
        number,
        &owner,
        &repo,
        &new.title,
        &new.head,
        &new.base,
        new.body.as_deref().unwrap_or_default(),
    );
    inner.pulls.push(pr.clone());
    (StatusCode::CREATED, Json(pr)).into_response()
}

async fn list(State(fake): State<GitHubFake>, Query(q): Query<ListQuery>) -> Json<Value> {
    let inner = fake.inner.lock().expect("lock");
    let all = q.state.as_deref() == Some("all");
    let found: Vec<Value> = inner
        .pulls
        .iter()
        .filter(|p| q.head.as_deref().is_none_or(|h| p["head"]["label"] == h))
        .filter(|p| all || p["state"] == "open")
        .cloned()
        .collect();
    Json(Value::Array(found))
}

async fn get_one(
    State(fake): State<GitHubFake>,
    Path((_, _, number)): Path<(String, String, u64)>,
) -> Response {
    let inner = fake.inner.lock().expect("lock");
    match inner.pulls.iter().find(|p| p["number"] == number) {
        Some(p) => Json(p.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response(),
    }
}

/// A repository as `GET /repos/{owner}/{repo}` shows it to a token with `push` (or only read) access.
fn repository(owner: &str, repo: &str, push: bool) -> Value {
    let api = format!("https://api.github.com/repos/{owner}/{repo}");
    let account = json!({"login": owner, "id": 7, "node_id": "O_7", "avatar_url": "https://avatars.githubusercontent.com/u/7",
        "gravatar_id": "", "url": format!("https://api.github.com/users/{owner}"),
        "html_url": format!("https://github.com/{owner}"), "type": "Organization", "site_admin": false});
    let mut repository = json!({
        "id": 700_001, "node_id": "R_kgDOAura", "name": repo, "full_name": format!("{owner}/{repo}"), "private": true,
        "owner": account, "html_url": format!("https://github.com/{owner}/{repo}"), "description": "Infrastructure",
        "fork": false, "url": api, "pulls_url": format!("{api}/pulls{{/number}}"),
        "created_at": "2025-01-10T09:00:00Z", "updated_at": "2026-11-20T09:00:00Z", "pushed_at": "2026-11-20T09:00:00Z",
        "git_url": format!("git://github.com/{owner}/{repo}.git"), "ssh_url": format!("git@github.com:{owner}/{repo}.git"),
        "clone_url": format!("https://github.com/{owner}/{repo}.git"), "homepage": null, "size": 120,
        "visibility": "private", "default_branch": "main",
        "permissions": {"admin": false, "maintain": false, "push": push, "triage": push, "pull": true}
    });
    let counts = json!({
        "stargazers_count": 0, "watchers_count": 0, "language": null, "has_issues": true, "has_projects": false,
        "has_wiki": false, "has_pages": false, "forks_count": 0, "archived": false, "disabled": false,
        "open_issues_count": 0, "license": null, "allow_forking": false, "is_template": false, "topics": [],
        "forks": 0, "open_issues": 0, "watchers": 0, "allow_squash_merge": true, "allow_merge_commit": true,
        "allow_rebase_merge": true, "delete_branch_on_merge": false, "network_count": 0, "subscribers_count": 1
    });
    if let (Some(all), Value::Object(more)) = (repository.as_object_mut(), counts) {
        all.extend(more);
    }
    repository
}

/// `GET /repos/{owner}/{repo}`: 401 for an unknown token, 404 for an unknown repository, else the repository with
/// the token's permissions and (for a classic token) its scopes in `X-OAuth-Scopes`.
async fn get_repo(
    State(fake): State<GitHubFake>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let inner = fake.inner.lock().expect("lock");
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    let grant = match token {
        Some(_) if inner.grants.is_empty() => Some((true, Some("repo".to_owned()))),
        Some(t) => inner
            .grants
            .iter()
            .find(|(known, _, _)| known == t)
            .map(|(_, push, scopes)| (*push, scopes.clone())),
        None => None,
    };
    let Some((push, scopes)) = grant else {
        let body = json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    let full = format!("{owner}/{repo}");
    if inner.repos.as_ref().is_some_and(|r| !r.contains(&full)) {
        let body = json!({"message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository", "status": "404"});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let mut response = Json(repository(&owner, &repo, push)).into_response();
    if let Some(scopes) = scopes {
        let h = response.headers_mut();
        h.insert(
            "x-oauth-scopes",
            HeaderValue::from_str(&scopes).expect("header"),
        );
        h.insert("x-accepted-oauth-scopes", HeaderValue::from_static("repo"));
    }
    response
}

impl GitHubFake {
    pub async fn start() -> GitHubFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let fake = GitHubFake {
            inner: Arc::default(),
            url: format!("http://{addr}"),
        };
        let app = Router::new()
            .route("/repos/{owner}/{repo}", get(get_repo))
            .route("/repos/{owner}/{repo}/pulls", post(create).get(list))
            .route("/repos/{owner}/{repo}/pulls/{number}", get(get_one))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        fake
    }

    /// Registers a token: whether it may push, and its classic scopes (`None`: a fine-grained token). Once one is
    /// registered, any other token is answered 401.
    pub fn grant(&self, token: &str, push: bool, scopes: Option<&str>) {
        self.inner.lock().expect("lock").grants.push((
            token.to_owned(),
            push,
            scopes.map(str::to_owned),
        ));
    }

    /// Only these repositories (`owner/repo`) exist; others are answered 404.
    pub fn only_repos(&self, full_names: &[&str]) {
        self.inner.lock().expect("lock").repos =
            Some(full_names.iter().map(|r| (*r).to_owned()).collect());
    }

    /// Every pull request, as GitHub would list them.
    pub fn pulls(&self) -> Vec<Value> {
        self.inner.lock().expect("lock").pulls.clone()
    }

    /// How many create calls arrived.
    pub fn creates(&self) -> u32 {
        self.inner.lock().expect("lock").creates
    }

    /// The next `n` create calls fail with 502.
    pub fn fail_creates(&self, n: u32) {
        self.inner.lock().expect("lock").fail_creates = n;
    }

    /// A pull request someone (a crashed earlier run) already opened for `head`.
    pub fn open_existing(&self, owner: &str, repo: &str, head: &str) {
        let mut inner = self.inner.lock().expect("lock");
        let number = inner.pulls.len() as u64 + 1;
        inner
            .pulls
            .push(pull(number, owner, repo, "earlier run", head, "main", ""));
    }

    /// Merges pull request `number` with merge commit `sha`.
    pub fn merge(&self, number: u64, sha: &str) {
        let mut inner = self.inner.lock().expect("lock");
        if let Some(pr) = inner.pulls.iter_mut().find(|p| p["number"] == number) {
            pr["state"] = json!("closed");
            pr["merged"] = json!(true);
            pr["merged_at"] = json!("2026-11-21T11:00:00Z");
            pr["closed_at"] = json!("2026-11-21T11:00:00Z");
            pr["merge_commit_sha"] = json!(sha);
        }
    }
}
