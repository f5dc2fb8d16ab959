//! Routing: one entry point parses the path (built-ins and CRD kinds alike), applies
//! faults, answers, and logs the request.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::discovery;
use super::faults::{FaultHit, RequestRecord};
use super::limits;
use super::list;
use super::openapi;
use super::protobuf;
use super::resources::ResourceDef;
use super::selector::{FieldSelector, LabelSelector, Selectors};
use super::shared::Shared;
use super::status::{ApiError, delete_success};
use super::store::{DeleteOpts, Deleted, PatchKind, Store, WriteOpts};
use super::table;
use super::unknown_fields::{FieldValidation, warning_header};
use super::watch::{self, WatchParams};

/// A parsed request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`.
    ResourceList(String, String),
    /// A resource URL.
    Resource(ResourcePath),
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3Root,
    /// `/openapi/v3/<group-version path>`.
    OpenApiV3(String),
    /// Anything else.
    Unknown,
}

/// The parts of a resource URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// Group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Plural.
    pub plural: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource.
    pub sub: Option<String>,
}

/// Parse a request path.
pub fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let resource = |group: &str, version: &str, rest: &[&str]| -> Route {
        let own = |s: &&str| (*s).to_owned();
        let namespaced_form = rest.len() >= 3
            && rest[0] == "namespaces"
            && !(group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
        let (namespace, rest) = if namespaced_form {
            (Some(rest[1].to_owned()), &rest[2..])
        } else {
            (None, rest)
        };
        if rest.is_empty() || rest.len() > 3 {
            return Route::Unknown;
        }
        Route::Resource(ResourcePath {
            group: group.to_owned(),
            version: version.to_owned(),
            namespace,
            plural: rest[0].to_owned(),
            name: rest.get(1).map(own),
            sub: rest.get(2).map(own),
        })
    };
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", v] => Route::ResourceList(String::new(), (*v).to_owned()),
        ["api", v, rest @ ..] => resource("", v, rest),
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group((*g).to_owned()),
        ["apis", g, v] => Route::ResourceList((*g).to_owned(), (*v).to_owned()),
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        _ => Route::Unknown,
    }
}

/// An answer plus what the request log should say about it.
struct Answer {
    response: Response,
    reason: Option<String>,
}

impl From<ApiError> for Answer {
    fn from(e: ApiError) -> Self {
        Answer {
            reason: Some(e.reason.clone()),
            response: e.into_response(),
        }
    }
}

fn ok(v: Value) -> Answer {
    Answer {
        response: axum::Json(v).into_response(),
        reason: None,
    }
}

fn created(v: Value) -> Answer {
    Answer {
        response: (StatusCode::CREATED, axum::Json(v)).into_response(),
        reason: None,
    }
}

fn page_not_found() -> Answer {
    Answer {
        response: (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response(),
        reason: None,
    }
}

/// What the aggregator answers for an API service that is not answering.
fn unanswered() -> Answer {
    ApiError::new(
        503,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
    )
    .into()
}

type Params = Vec<(String, String)>;

fn param<'a>(q: &'a Params, key: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn flag(q: &Params, key: &str) -> bool {
    matches!(param(q, key), Some("true" | "1"))
}

/// The axum fallback handler: every request comes through here.
pub async fn entry(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let params: Params = Query::<Params>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let route = parse_route(&path);
    let is_watch = method == Method::GET && flag(&params, "watch");
    let kind = match &route {
        Route::Resource(rp) => shared.with_store(|s| s.resolve(&rp.group, &rp.version, &rp.plural)),
        _ => None,
    };
    let hit = shared.faults().check(
        method.as_str(),
        &path,
        kind.as_ref().map(|d| (d.kind.as_str(), d.plural.as_str())),
        is_watch,
    );
    if let Some(l) = hit.latency {
        tokio::time::sleep(l).await;
    }
    if let (Some(change), Route::Resource(rp), Some(def)) = (&hit.concurrent_write, &route, &kind) {
        concurrent_write(&shared, rp, def, change);
    }
    let answer = match hit.error.clone() {
        Some(e) => Answer::from(e),
        None => handle(&shared, req, route, params, &hit).await,
    };
    shared.record(RequestRecord {
        method: method.to_string(),
        path,
        query,
        status: answer.response.status().as_u16(),
        reason: answer.reason,
        watch: is_watch,
        faulted: hit.any(),
    });
    answer.response
}

/// Another writer's merge patch on the object `rp` names (if it exists), before the
/// request itself is handled.
fn concurrent_write(shared: &Arc<Shared>, rp: &ResourcePath, def: &ResourceDef, change: &Value) {
    let Some(name) = rp.name.as_deref() else {
        return;
    };
    let ns = rp.namespace.clone().unwrap_or_default();
    let body = serde_json::to_vec(change).expect("JSON values serialize");
    let opts = WriteOpts {
        field_manager: Some("concurrent-writer".to_owned()),
        ..WriteOpts::default()
    };
    // An object that is not there is left alone: the request answers for itself.
    let _ = shared.with_store(|s| {
        s.patch(
            def,
            &rp.version,
            &ns,
            name,
            PatchKind::Merge,
            &body,
            false,
            &opts,
        )
    });
}

async fn handle(
    shared: &Arc<Shared>,
    req: Request,
    route: Route,
    q: Params,
    hit: &FaultHit,
) -> Answer {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let get = req.method() == Method::GET;
    let aggregated = |v: Value| Answer {
        response: (
            [(header::CONTENT_TYPE, discovery::AGGREGATED_CONTENT_TYPE)],
            axum::Json(v),
        )
            .into_response(),
        reason: None,
    };
    let not_allowed = || {
        ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )
        .into()
    };
    match route {
        Route::Resource(rp)
            if shared.with_store(|s| {
                s.scenario
                    .down()
                    .iter()
                    .any(|d| d.group == rp.group && d.version == rp.version)
            }) =>
        {
            unanswered()
        }
        Route::Resource(rp) => resource(shared, req, rp, q, hit).await,
        _ if !get => not_allowed(),
        Route::Version => {
            let (minor, git_version) =
                shared.with_store(|s| (s.scenario.minor().to_owned(), s.scenario.git_version()));
            ok(discovery::version(&minor, &git_version))
        }
        Route::Health => Answer {
            response: "ok".into_response(),
            reason: None,
        },
        Route::CoreVersions => {
            if discovery::wants_aggregated(accept.as_deref()) {
                let rs = shared.with_store(|s| s.resources());
                aggregated(discovery::aggregated(&rs, &[], true))
            } else {
                ok(discovery::core_versions(&shared.addr.to_string()))
            }
        }
        Route::Groups => {
            let (rs, down) = shared.with_store(|s| (s.resources(), s.scenario.down()));
            if discovery::wants_aggregated(accept.as_deref()) {
                aggregated(discovery::aggregated(&rs, &down, false))
            } else {
                ok(discovery::group_list(&rs, &down))
            }
        }
        Route::Group(g) => {
            let (rs, down) = shared.with_store(|s| (s.resources(), s.scenario.down()));
            discovery::group(&rs, &down, &g).map_or_else(page_not_found, ok)
        }
        Route::ResourceList(g, v) => {
            let (rs, down) = shared.with_store(|s| (s.resources(), s.scenario.down()));
            if down.iter().any(|d| d.group == g && d.version == v) {
                return unanswered();
            }
            match discovery::resource_list(&rs, &g, &v) {
                Some(list) => ok(list),
                None if g.is_empty() || rs.iter().any(|d| d.group == g) => {
                    ApiError::not_served().into()
                }
                None => page_not_found(),
            }
        }
        Route::OpenApiV2 => {
            let json_ok = accept
                .as_deref()
                .is_none_or(|a| a.contains("json") || a.contains("*/*"));
            if json_ok {
                let minor = shared.with_store(|s| s.scenario.minor().to_owned());
                ok(openapi::v2(&minor))
            } else {
                ApiError::new(406, "NotAcceptable", "only application/json is served").into()
            }
        }
        Route::OpenApiV3Root => {
            let (rs, minor) = shared.with_store(|s| (s.resources(), s.scenario.minor().to_owned()));
            ok(openapi::v3_root(&rs, &minor))
        }
        Route::OpenApiV3(gv) => {
            let (rs, minor) = shared.with_store(|s| (s.resources(), s.scenario.minor().to_owned()));
            openapi::v3_group_version(&rs, &gv, &minor).map_or_else(page_not_found, ok)
        }
        Route::Unknown => page_not_found(),
    }
}

fn selectors(def: &ResourceDef, q: &Params) -> Result<Selectors, ApiError> {
    let extra: &[&str] = match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => &["status.phase"],
        ("", "secrets") => &["type"],
        _ => &[],
    };
    Ok(Selectors {
        labels: LabelSelector::parse(param(q, "labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(param(q, "fieldSelector").unwrap_or(""), extra)?,
    })
}

fn write_opts(q: &Params, headers: &HeaderMap) -> WriteOpts {
    WriteOpts {
        dry_run: param(q, "dryRun") == Some("All"),
        field_manager: param(q, "fieldManager")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        force: flag(q, "force"),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        validation: FieldValidation::default(),
    }
}

async fn resource(
    shared: &Arc<Shared>,
    req: Request,
    rp: ResourcePath,
    q: Params,
    hit: &FaultHit,
) -> Answer {
    let Some(def) = shared.with_store(|s| s.resolve(&rp.group, &rp.version, &rp.plural)) else {
        let group_served = rp.group.is_empty()
            || shared.with_store(|s| s.resources().iter().any(|d| d.group == rp.group));
        return if group_served {
            ApiError::not_served().into()
        } else {
            page_not_found()
        };
    };
    if (def.namespaced && rp.namespace.is_none() && rp.name.is_some())
        || (!def.namespaced && rp.namespace.is_some())
    {
        return page_not_found();
    }
    let status_sub = match rp.sub.as_deref() {
        None => false,
        Some("status") if def.status_subresource => true,
        Some("finalize") if def.is_namespaces() => false,
        Some(_) => return ApiError::not_served().into(),
    };
    let finalize = rp.sub.as_deref() == Some("finalize");
    // The finalize subresource is only an updater: PUT is its one route, any other
    // verb is refused by the router, before the body is read (k8s.io/kubernetes
    // v1.36.3 `pkg/registry/core/namespace/storage/storage.go`, FinalizeREST;
    // k8s.io/apiserver v0.36.3 `pkg/endpoints/installer.go`, registerResourceHandlers;
    // `pkg/server/handler.go`, serviceErrorHandler).
    if finalize && req.method() != Method::PUT {
        return ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )
        .into();
    }
    let ns = rp.namespace.clone().unwrap_or_default();
    let version = rp.version.clone();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits::MAX_REQUEST_BODY) {
        return limits::body_too_large().into();
    }
    let body = match axum::body::to_bytes(req.into_body(), limits::MAX_REQUEST_BODY).await {
        Ok(b) => b,
        Err(e) if over_limit(&e) => return limits::body_too_large().into(),
        Err(e) => {
            return ApiError::bad_request(format!("cannot read the request body: {e}")).into();
        }
    };
    // kubectl sends built-in kinds in protobuf (read for the kinds it creates that
    // way); any other format is a 415. PATCH bodies have their own media types.
    let in_protobuf = content_type == protobuf::MEDIA_TYPE;
    if method != Method::PATCH
        && !body.is_empty()
        && !in_protobuf
        && !limits::readable_body(&content_type)
    {
        return limits::unreadable_body().into();
    }
    let json_body = || -> Result<Value, ApiError> {
        if in_protobuf {
            return protobuf::decode(&body);
        }
        serde_json::from_slice(&body)
            .or_else(|_| serde_yaml::from_slice(&body))
            .map_err(|e| ApiError::bad_request(format!("error decoding the request body: {e}")))
    };
    let mut opts = write_opts(&q, &headers);
    let options = match method {
        Method::POST => Some("CreateOptions"),
        Method::PUT => Some("UpdateOptions"),
        Method::PATCH => Some("PatchOptions"),
        _ => None,
    };
    if let Some(options) = options {
        match FieldValidation::parse(param(&q, "fieldValidation"), options) {
            Ok(v) => opts.validation = v,
            Err(e) => return e.into(),
        }
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let result: Result<Answer, ApiError> = (|| {
        match (method.clone(), rp.name.as_deref()) {
            (Method::GET, None) => {
                let sel = selectors(&def, &q)?;
                if flag(&q, "watch") {
                    let p = WatchParams {
                        namespace: rp.namespace.clone(),
                        selectors: sel,
                        resource_version: param(&q, "resourceVersion").map(str::to_owned),
                        timeout: param(&q, "timeoutSeconds")
                            .and_then(|t| t.parse::<u64>().ok())
                            .map(|t| Duration::from_secs(t).min(planrun_text::MAX_DURATION)),
                        bookmarks: flag(&q, "allowWatchBookmarks"),
                        // With the WatchList feature (on by default), a watch from "" or
                        // "0" that says nothing of initial events gets them, ending with
                        // the initial-events-end bookmark (k8s.io/apimachinery v0.36.3
                        // pkg/apis/meta/internalversion/defaults.go).
                        send_initial_events: flag(&q, "sendInitialEvents")
                            || (param(&q, "sendInitialEvents").is_none()
                                && param(&q, "resourceVersionMatch").is_none()
                                && matches!(param(&q, "resourceVersion"), None | Some("" | "0"))),
                        drop_after_events: hit.drop_after_events,
                        expire: hit.expire_watch,
                    };
                    return Ok(Answer {
                        response: watch::watch(shared, def.clone(), version.clone(), p),
                        reason: None,
                    });
                }
                let limit = param(&q, "limit")
                    .and_then(|l| l.parse::<usize>().ok())
                    .filter(|l| *l > 0);
                let cont = param(&q, "continue").filter(|c| !c.is_empty());
                let (items, rv) = shared.with_store(|s| {
                    (
                        s.list(&def, rp.namespace.as_deref(), &sel),
                        s.resource_version(),
                    )
                });
                let page = list::page(items, cont, limit, rv)?;
                if table::wants_table(accept.as_deref()) {
                    let crd = crd_of(shared, &def);
                    return Ok(ok(table::table(
                        &def,
                        crd.as_ref(),
                        &version,
                        &page.items,
                        rv,
                        page.next,
                    )));
                }
                let filtered = param(&q, "labelSelector").is_some_and(|l| !l.is_empty())
                    || param(&q, "fieldSelector").is_some_and(|f| !f.is_empty());
                Ok(ok(list::body(&def, &version, page, rv, filtered)))
            }
            (Method::GET, Some(name)) => {
                let obj = shared.with_store(|s| s.get(&def, &ns, name))?;
                if table::wants_table(accept.as_deref()) {
                    let (crd, rv) = (
                        crd_of(shared, &def),
                        shared.with_store(|s| s.resource_version()),
                    );
                    return Ok(ok(table::table(
                        &def,
                        crd.as_ref(),
                        &version,
                        &[obj],
                        rv,
                        None,
                    )));
                }
                Ok(ok(Store::present(&def, &version, obj)))
            }
            (Method::POST, None) => {
                if def.namespaced && rp.namespace.is_none() {
                    return Err(ApiError::method_not_allowed(
                        "the server does not allow this method on the requested resource",
                    ));
                }
                let b = json_body()?;
                let (obj, warnings) = write(shared, |s| s.create(&def, &version, &ns, b, &opts))?;
                Ok(warned(
                    created(Store::present(&def, &version, obj)),
                    &warnings,
                ))
            }
            (Method::PUT, Some(name)) => {
                let b = json_body()?;
                let (obj, warnings) = if finalize {
                    write(shared, |s| {
                        s.finalize_namespace(&def, &version, name, b, &opts)
                    })?
                } else {
                    write(shared, |s| {
                        s.update(&def, &version, &ns, name, b, status_sub, &opts)
                    })?
                };
                Ok(warned(ok(Store::present(&def, &version, obj)), &warnings))
            }
            (Method::PATCH, Some(name)) => {
                let kind = match content_type.as_str() {
                    "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                        PatchKind::Apply
                    }
                    "application/merge-patch+json" => PatchKind::Merge,
                    "application/strategic-merge-patch+json" if !def.custom => PatchKind::Strategic,
                    "application/json-patch+json" => PatchKind::Json,
                    _ if def.custom => return Err(ApiError::unsupported_media_type()),
                    _ => return Err(ApiError::unsupported_media_type_route()),
                };
                let existed = shared.with_store(|s| s.get_opt(&def.key(), &ns, name).is_some());
                let (obj, warnings) = write(shared, |s| {
                    s.patch(&def, &version, &ns, name, kind, &body, status_sub, &opts)
                })?;
                let obj = Store::present(&def, &version, obj);
                Ok(warned(
                    if existed { ok(obj) } else { created(obj) },
                    &warnings,
                ))
            }
            (Method::DELETE, name) => {
                let mut d = DeleteOpts::default();
                if !body.is_empty() {
                    let b = json_body()?;
                    d.dry_run = b
                        .get("dryRun")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|v| v == "All"));
                    d.uid = b
                        .pointer("/preconditions/uid")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    d.resource_version = b
                        .pointer("/preconditions/resourceVersion")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    d.propagation = b
                        .get("propagationPolicy")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                d.dry_run |= opts.dry_run;
                if let Some(p) = param(&q, "propagationPolicy") {
                    d.propagation = Some(p.to_owned());
                }
                let Some(name) = name else {
                    if def.is_namespaces() {
                        return Err(ApiError::method_not_allowed(
                            "the server does not allow this method on the requested resource",
                        ));
                    }
                    let sel = selectors(&def, &q)?;
                    let (items, rv) = shared.with_store(|s| {
                        s.delete_collection(&def, rp.namespace.as_deref(), &sel, &d)
                            .map(|v| (v, s.resource_version()))
                    })?;
                    let page = list::Page {
                        items,
                        next: None,
                        remaining: 0,
                    };
                    return Ok(ok(list::body(&def, &version, page, rv, true)));
                };
                let outcome = shared.with_store(|s| s.delete(&def, &ns, name, &d))?;
                Ok(match outcome {
                    Deleted::Pending(obj) => ok(Store::present(&def, &version, obj)),
                    // Gone at once: the object from the registries that return it
                    // (`ResourceDef::returns_deleted`), else a Status.
                    Deleted::Gone(obj) if def.returns_deleted => {
                        ok(Store::present(&def, &version, obj))
                    }
                    Deleted::Gone(obj) => {
                        let uid = obj
                            .pointer("/metadata/uid")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        ok(delete_success(&def.group, &def.plural, name, uid))
                    }
                })
            }
            _ => Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            )),
        }
    })();
    result.unwrap_or_else(Answer::from)
}

/// Runs a write on the store and takes the warnings it gave, under one lock (another
/// request's warnings are never mixed in).
fn write<T>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut Store) -> Result<T, ApiError>,
) -> Result<(T, Vec<String>), ApiError> {
    shared.with_store(|s| {
        s.take_warnings();
        let out = f(s);
        let warnings = s.take_warnings();
        out.map(|v| (v, warnings))
    })
}

/// An answer with a `Warning` header for each warning.
fn warned(mut answer: Answer, warnings: &[String]) -> Answer {
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&warning_header(w)) {
            answer.response.headers_mut().append(header::WARNING, v);
        }
    }
    answer
}

/// The CRD defining a custom kind (for its printer columns).
fn crd_of(shared: &Arc<Shared>, def: &ResourceDef) -> Option<Value> {
    if !def.custom {
        return None;
    }
    let key = super::resources::ResKey::new("apiextensions.k8s.io", "customresourcedefinitions");
    let name = format!("{}.{}", def.plural, def.group);
    shared.with_store(|s| s.get_opt(&key, "", &name).cloned())
}

/// Whether reading a body failed because it was over the limit given.
fn over_limit(e: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        source = err.source();
    }
    false
}

/// The router: everything goes to [`entry`].
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(entry).with_state(shared)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            parse_route("/api/v1"),
            Route::ResourceList(String::new(), "v1".into())
        );
        let Route::Resource(r) = parse_route("/api/v1/namespaces/x") else {
            panic!()
        };
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref(), r.namespace),
            ("namespaces", Some("x"), None)
        );
        let Route::Resource(r) = parse_route("/api/v1/namespaces/x/status") else {
            panic!()
        };
        assert_eq!(
            (r.plural.as_str(), r.sub.as_deref()),
            ("namespaces", Some("status"))
        );
        let Route::Resource(r) = parse_route("/apis/apps/v1/namespaces/ns/deployments/web/status")
        else {
            panic!()
        };
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.plural.as_str(),
                r.name.as_deref(),
                r.sub.as_deref()
            ),
            (Some("ns"), "deployments", Some("web"), Some("status"))
        );
        let Route::Resource(r) = parse_route("/api/v1/namespaces/ns/configmaps") else {
            panic!()
        };
        assert_eq!(
            (r.namespace.as_deref(), r.plural.as_str(), r.name),
            (Some("ns"), "configmaps", None)
        );
        assert_eq!(parse_route("/nope"), Route::Unknown);
    }
}
