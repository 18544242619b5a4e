pub mod close_margin_account;
pub mod create_margin_account;
pub mod deposit;
pub mod deposit_insurance;
pub mod margin_report;
pub mod set_delegate;
pub mod trade;
pub mod withdraw;

pub use close_margin_account::*;
pub use create_margin_account::*;
pub use deposit::*;
pub use deposit_insurance::*;
pub use margin_report::*;
pub use set_delegate::*;
pub use trade::*;
pub use withdraw::*;
