pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod keeper;
pub mod user;

pub use admin::*;
#[cfg(feature = "bench")]
pub use bench::*;
pub use keeper::*;
pub use user::*;
