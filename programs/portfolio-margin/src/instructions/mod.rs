pub mod admin;
pub mod bench;
pub mod keeper;
pub mod user;

pub use admin::*;
pub use bench::*;
pub use keeper::*;
pub use user::*;
