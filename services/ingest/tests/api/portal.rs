//! The portal's files: served under `/portal` with a strict Content-Security-Policy, every
//! script and stylesheet a page names present, revalidated by `ETag`.

use poem::http::{StatusCode, header};
use sqlx::PgPool;

use crate::helpers::spawn_app;

const STRICT: &str = "script-src 'self';";

/// The `src="..."` and `href="..."` values of a page that point at portal files.
fn local_references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|link| !link.contains("://") && !link.starts_with('#'))
        .map(|link| link.trim_start_matches("./").to_owned())
        .collect()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_portal_is_served_with_a_strict_policy(pool: PgPool) {
    let app = spawn_app(pool).await;
    let bare = app.client.get("/portal").send().await;
    bare.assert_status(StatusCode::PERMANENT_REDIRECT);
    bare.assert_header(header::LOCATION, "/portal/");

    let index = app.client.get("/portal/").send().await;
    index.assert_status_is_ok();
    index.assert_content_type("text/html");
    let policy = index.0.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(STRICT),
        "no inline script allowed: {policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let html = index.0.into_body().into_string().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(
        html.contains("<nav aria-label=\"Portal\">"),
        "the shared header is in place"
    );
    assert!(!html.contains("<!--#header-->"));

    let references = local_references(&html);
    assert!(
        references.iter().any(|r| r.ends_with(".js")),
        "the page loads its script: {references:?}"
    );
    for reference in references {
        let path = format!("/portal/{}", reference.trim_start_matches("/portal/"));
        let file = app.client.get(&path).send().await;
        file.assert_status_is_ok();
        let kind = file.0.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        if reference.ends_with(".js") {
            assert!(kind.contains("javascript"), "{path}: {kind}");
        } else if reference.ends_with(".css") {
            assert!(kind.starts_with("text/css"), "{path}: {kind}");
        }
    }
}

/// Every page gets the one header, with its own link marked as the current page; the header
/// itself is not a page.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn every_page_shares_the_header_and_marks_itself(pool: PgPool) {
    let app = spawn_app(pool).await;
    for page in ["webhooks", "events", "dlq", "event-types", "quotas"] {
        let response = app.client.get(format!("/portal/{page}.html")).send().await;
        response.assert_status_is_ok();
        let html = response.0.into_body().into_string().await.unwrap();
        let current = html.matches("aria-current=\"page\"").count();
        assert_eq!(current, 1, "{page}: one current link");
        let link = format!("href=\"/portal/{page}.html\" aria-current=\"page\"");
        assert!(
            html.contains(&link),
            "{page}: its own link is the current one"
        );
        assert!(
            html.contains("id=\"sign-out\""),
            "{page}: the header is in place"
        );
    }
    let part = app.client.get("/portal/_header.html").send().await;
    part.assert_status(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_unchanged_file_is_not_sent_again(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = app.client.get("/portal/index.html").send().await;
    first.assert_status_is_ok();
    let etag = first.0.headers()[header::ETAG].clone();
    let again = app
        .client
        .get("/portal/index.html")
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    let stale = app
        .client
        .get("/portal/index.html")
        .header(header::IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await;
    stale.assert_status_is_ok();

    let missing = app.client.get("/portal/no-such-page.html").send().await;
    missing.assert_status(StatusCode::NOT_FOUND);
    missing
        .assert_json(serde_json::json!({
            "error": "not_found",
            "message": "portal page not found"
        }))
        .await;
}
