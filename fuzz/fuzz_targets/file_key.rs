//! The file-key validator (the only way a `/files/…` path reaches the disk
//! or S3), on arbitrary text.
//!
//! A key it accepts, joined under a root, stays under that root by the
//! standard library's own reading of the path: only normal components.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path};
use switchboard_fuzz::files::FileKey;

fuzz_target!(|raw: &str| {
    let Ok(key) = FileKey::parse(raw) else {
        return;
    };
    assert_eq!(key.as_str(), raw, "keys are validated, never rewritten");
    assert!(raw.len() <= 900);
    let joined = Path::new("/srv/files").join(key.as_str());
    assert!(joined.starts_with("/srv/files"));
    for component in Path::new(key.as_str()).components() {
        let Component::Normal(part) = component else {
            panic!("{raw:?} has a {component:?} component");
        };
        let part = part.to_string_lossy();
        assert!(!part.starts_with('.'), "{raw:?} has a hidden segment");
        assert!(!part.contains('\\') && !part.chars().any(char::is_control));
    }
});
