//! The placeholders of canned replies, as pure functions: which ones a body
//! may name and how an agent program fills them in when a reply is
//! inserted. The switchboard checks saved bodies against [`PLACEHOLDERS`]
//! (`switchboard/src/canned/rules.rs`); the terminal agent fills them with
//! [`fill`]; the console's `static/canned.js` mirrors both for the browser.

/// The placeholders a canned reply may name: `{customer}` (the customer's
/// number) and `{agent}` (the name of the agent inserting it).
pub const PLACEHOLDERS: [&str; 2] = ["customer", "agent"];

/// `body` with `{customer}` and `{agent}` filled in. Anything else in
/// braces is left as it is (the switchboard refuses to save an unknown
/// placeholder, so only text like `a { b }` remains).
pub fn fill(body: &str, customer: &str, agent: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    // One pass, so a filled-in value is never read as a placeholder.
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix("{customer}") {
            out.push_str(customer);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{agent}") {
            out.push_str(agent);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_placeholders_are_filled_everywhere_and_nothing_else() {
        assert_eq!(
            fill(
                "Hi {customer}, this is {agent}. {agent} again; {other} {",
                "+15550001",
                "alice"
            ),
            "Hi +15550001, this is alice. alice again; {other} {"
        );
        // A filled-in value is not filled again.
        assert_eq!(fill("{customer}", "{agent}", "bob"), "{agent}");
    }
}
