//! Apache httpd itself: the installed one, run against one config file (finding it,
//! `install`; the wrapper config that loads the file, `wrapper`; a started server,
//! `running`), used by `modproxy check` and the tests; and a running one's balancer
//! manager (`manager`, over `client`), read by `modproxy status` and the state commands.

pub mod advisories;
pub mod client;
mod install;
pub mod manager;
mod running;
mod wrapper;

pub use install::Installation;
pub use running::{Running, free_port};
pub use wrapper::Wrapper;
