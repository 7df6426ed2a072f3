//! Cross-checks `switchboard::twilio::signature` against Twilio's own Python
//! helper library (`tests/tools/twilio_sign.py`), on Twilio's documented
//! example and on a few hundred generated requests full of the characters
//! that break hand-rolled signing: `+`, `&`, `=`, non-ASCII, empty values,
//! names that prefix one another, names sent twice.
//!
//! Needs `TWILIO_PYTHON`: a Python with `twilio` installed, as set up by
//! `scripts/lib/pyoracle.sh`. Set `SIGNATURE_ORACLE_SEED` to replay a run.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use switchboard::twilio::signature;

#[derive(Serialize)]
struct Case {
    token: String,
    url: String,
    params: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    validate: Option<ValidateCheck>,
}

#[derive(Serialize)]
struct ValidateCheck {
    url: String,
    signature: String,
}

#[derive(Deserialize)]
struct OracleAnswer {
    signature: String,
    valid: Option<bool>,
}

fn twilio_python() -> PathBuf {
    match std::env::var_os("TWILIO_PYTHON") {
        Some(python) if !python.is_empty() => PathBuf::from(python),
        _ => panic!(
            "TWILIO_PYTHON is not set. Run the project's test command, which installs Twilio's \
             Python helper library via scripts/lib/pyoracle.sh and exports it, or set \
             TWILIO_PYTHON to a python that can `import twilio`."
        ),
    }
}

/// Runs every case through Twilio's `RequestValidator` in one process.
fn ask_oracle(cases: &[Case]) -> Vec<OracleAnswer> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/twilio_sign.py");
    let python = twilio_python();
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run TWILIO_PYTHON={}: {e}", python.display()));
    let input = serde_json::to_vec(cases).expect("cases serialise");
    // The script reads all of stdin before writing, so writing first cannot deadlock.
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&input)
        .expect("write cases to the oracle");
    let output = child.wait_with_output().expect("oracle runs");
    assert!(
        output.status.success(),
        "{} {} failed ({}):\n{}",
        python.display(),
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<OracleAnswer> =
        serde_json::from_slice(&output.stdout).expect("oracle prints a JSON array");
    assert_eq!(answers.len(), cases.len(), "one answer per case");
    answers
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn seeded_rng() -> StdRng {
    let seed = std::env::var("SIGNATURE_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    // Printed so a failing run can be replayed; cargo shows it only on failure.
    println!("SIGNATURE_ORACLE_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// Pieces that stress encoding and ordering: form metacharacters, escapes
/// that must not be decoded, non-ASCII on both sides of the UTF-16 surrogate
/// range (byte order and code-point order agree; UTF-16 order does not).
const FRAGMENTS: &[&str] = &[
    "a",
    "Z",
    "0",
    "9",
    " ",
    "+",
    "&",
    "=",
    "%",
    "%2B",
    "%20",
    "?",
    "#",
    "/",
    ":",
    ";",
    ",",
    "'",
    "\"",
    "\\",
    "\n",
    "\t",
    "\0",
    "é",
    "ü",
    "ß",
    "中",
    "文",
    "\u{301}",
    "\u{ff21}",
    "\u{e000}",
    "\u{fffd}",
    "😀",
    "👍🏽",
    "𝄞",
    "\u{10ffff}",
    "+1555",
    "abc",
    "Hello",
];

const NAMES: &[&str] = &[
    "To",
    "ToCity",
    "To2",
    "to",
    "TO",
    "From",
    "FromCountry",
    "Body",
    "Body ",
    "MessageSid",
    "NumMedia",
    "MediaUrl0",
    "MediaUrl1",
    "MediaUrl10",
    "MediaContentType0",
    "A",
    "a",
    "_",
    "Ä",
    "名前",
    "😀",
    "a=b",
    "a&b",
    "a+b",
    "",
];

fn random_text(rng: &mut StdRng, max_fragments: usize) -> String {
    let n = rng.random_range(0..=max_fragments);
    (0..n)
        .map(|_| *FRAGMENTS.choose(rng).expect("non-empty"))
        .collect()
}

fn random_token(rng: &mut StdRng) -> String {
    match rng.random_range(0..4) {
        // The shape of a real auth token.
        0 | 1 => (0..32)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit"))
            .collect(),
        2 => random_text(rng, 12),
        _ => String::new(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Port {
    Absent,
    SchemeDefault,
    Other(u16),
}

struct UrlParts {
    https: bool,
    host: &'static str,
    path: String,
    query: String,
}

impl UrlParts {
    fn random(rng: &mut StdRng) -> Self {
        let host = *[
            "example.com",
            "sb.example.org",
            "localhost",
            "127.0.0.1",
            "xn--bcher-kva.example",
            "Mixed-Case.Example.COM",
        ]
        .choose(rng)
        .expect("non-empty");
        let path = *[
            "/",
            "/twilio/sms",
            "/twilio/sms/",
            "/caf\u{e9}/\u{fc}ber",
            "/\u{8def}\u{5f84}/\u{1f600}",
            "/a%20b/c+d",
            "/myapp.php",
            "",
        ]
        .choose(rng)
        .expect("non-empty");
        let query = match rng.random_range(0..5) {
            0 => String::new(),
            1 => "?foo=1&bar=2".to_string(),
            2 => "?x=%2B1&y=+&z=".to_string(),
            3 => "?\u{e9}=\u{fc}&e=mc%C2%B2".to_string(),
            _ => format!("?q={}", random_text(rng, 4)),
        };
        UrlParts {
            https: rng.random_bool(0.6),
            host,
            path: path.to_string(),
            query,
        }
    }

    fn with_port(&self, port: Port) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let port = match port {
            Port::Absent => String::new(),
            Port::SchemeDefault => {
                if self.https {
                    ":443".into()
                } else {
                    ":80".into()
                }
            }
            Port::Other(p) => format!(":{p}"),
        };
        format!("{scheme}://{}{port}{}{}", self.host, self.path, self.query)
    }
}

fn random_port(rng: &mut StdRng, https: bool) -> Port {
    match rng.random_range(0..4) {
        0 => Port::Absent,
        1 => Port::SchemeDefault,
        // The other scheme's default is not ours: it must count as "other".
        2 => Port::Other(if https { 80 } else { 443 }),
        _ => Port::Other(
            *[1u16, 3000, 4010, 8080, 8443, 65535]
                .choose(rng)
                .expect("non-empty"),
        ),
    }
}

fn random_params(rng: &mut StdRng) -> Vec<(String, String)> {
    let n = rng.random_range(0..12);
    let mut params: Vec<(String, String)> = (0..n)
        .map(|_| {
            let name = if rng.random_bool(0.7) {
                NAMES.choose(rng).expect("non-empty").to_string()
            } else {
                random_text(rng, 4)
            };
            (name, random_text(rng, 8))
        })
        .collect();
    // Twilio sends some names more than once; sometimes with the same value.
    if !params.is_empty() && rng.random_bool(0.3) {
        let (name, value) = params[rng.random_range(0..params.len())].clone();
        let value = if rng.random_bool(0.5) {
            value
        } else {
            random_text(rng, 6)
        };
        params.push((name, value));
    }
    params
}

#[test]
fn twilios_documented_example_agrees() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params = pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]);
    let expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    let answers = ask_oracle(&[Case {
        token: "12345".into(),
        url: url.into(),
        params: params.clone(),
        validate: None,
    }]);
    assert_eq!(answers[0].signature, expected, "the oracle itself");
    assert_eq!(signature::compute("12345", url, &params), expected);
    assert!(signature::is_valid("12345", url, &params, expected));
}

#[test]
fn generated_requests_sign_like_twilios_library() {
    let mut rng = seeded_rng();
    let cases: Vec<Case> = (0..300)
        .map(|_| {
            let parts = UrlParts::random(&mut rng);
            let port = random_port(&mut rng, parts.https);
            Case {
                token: random_token(&mut rng),
                url: parts.with_port(port),
                params: random_params(&mut rng),
                validate: None,
            }
        })
        .collect();
    let answers = ask_oracle(&cases);

    let mut mismatches = Vec::new();
    for (case, answer) in cases.iter().zip(&answers) {
        let ours = signature::compute(&case.token, &case.url, &case.params);
        if ours != answer.signature {
            mismatches.push(format!(
                "token={:?} url={:?} params={:?}: ours {ours}, Twilio's {}",
                case.token, case.url, case.params, answer.signature
            ));
        }
        if !signature::is_valid(&case.token, &case.url, &case.params, &answer.signature) {
            mismatches.push(format!(
                "is_valid refused Twilio's signature {} for token={:?} url={:?} params={:?}",
                answer.signature, case.token, case.url, case.params
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree with Twilio's library:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

/// Twilio's libraries accept a signature made over the URL with or without
/// its port, because Twilio's own signing is inconsistent about it. Ours must
/// accept and refuse exactly the same requests.
#[test]
fn port_tolerance_matches_twilios_library() {
    let mut rng = seeded_rng();
    let ports = |https: bool| {
        [
            Port::Absent,
            Port::SchemeDefault,
            Port::Other(8443),
            Port::Other(if https { 80 } else { 443 }),
        ]
    };
    let mut cases = Vec::new();
    for _ in 0..20 {
        let mut parts = UrlParts::random(&mut rng);
        // validate() rebuilds the URL through urlparse, which drops tabs and
        // newlines (as WHATWG URLs do) and an empty `#` fragment. None of them
        // can be in the URL of a real request, so they are left out here.
        parts
            .query
            .retain(|c| !matches!(c, '\t' | '\n' | '\r' | '#'));
        let token = random_token(&mut rng);
        let params = random_params(&mut rng);
        for request_port in ports(parts.https) {
            for signed_port in ports(parts.https) {
                let signed_url = parts.with_port(signed_port);
                cases.push(Case {
                    token: token.clone(),
                    url: signed_url.clone(),
                    params: params.clone(),
                    validate: Some(ValidateCheck {
                        url: parts.with_port(request_port),
                        signature: signature::compute(&token, &signed_url, &params),
                    }),
                });
            }
        }
    }
    let answers = ask_oracle(&cases);

    let mut mismatches = Vec::new();
    for (case, answer) in cases.iter().zip(&answers) {
        let check = case.validate.as_ref().expect("every case validates");
        let theirs = answer.valid.expect("the oracle answers `valid`");
        let ours = signature::is_valid(&case.token, &check.url, &case.params, &check.signature);
        if ours != theirs {
            mismatches.push(format!(
                "request to {:?} signed over {:?}: ours {ours}, Twilio's {theirs}",
                check.url, case.url
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree with Twilio's RequestValidator.validate:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
