//! The installed Apache httpd, run against one config file: finding it (`install`), the
//! wrapper config that loads the file (`wrapper`), and a started server (`running`). Used
//! by `modproxy check` and by the end-to-end tests and benchmarks.

mod install;
mod running;
mod wrapper;

pub use install::Installation;
pub use running::{Running, free_port};
pub use wrapper::Wrapper;
