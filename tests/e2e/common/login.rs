//! Signing in through the agent UI's form as a browser does: load the form
//! (its CSRF token and `sb_login` cookie), then post it with both.

/// The form's `sb_login=…` cookie pair and its hidden CSRF token.
pub async fn form_token(http: &reqwest::Client, base: &str) -> (String, String) {
    let response = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("GET /login");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_login="))
        .and_then(|v| v.split(';').next())
        .expect("the sign-in form sets its CSRF cookie")
        .to_string();
    let html = response.text().await.expect("login page");
    let token = html
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_string())
        .expect("the sign-in form carries a CSRF token");
    (cookie, token)
}

/// `POST /login` with the form's token, as the page would.
pub async fn post(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> reqwest::Response {
    let (cookie, token) = form_token(http, base).await;
    http.post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[("name", name), ("password", password), ("csrf", &token)])
        .send()
        .await
        .expect("POST /login")
}
