//! The file-key validator (`cloud/src/files/key.rs`) with the one item it
//! takes from its parent module, the error type.

/// `cloud/src/files/mod.rs`'s error, reduced to the variant the validator returns.
#[derive(Debug)]
pub enum FileError {
    InvalidKey(&'static str),
}

#[path = "../../../cloud/src/files/key.rs"]
pub mod key;

pub use key::FileKey;
