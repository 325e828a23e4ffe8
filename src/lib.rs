//! hostdev: a CNI plugin that gives a container an existing host network
//! interface. The binary (`main.rs`) is a thin shell over these modules;
//! they are a library so that tests and fuzz targets can reach the parsers.

pub mod agent;
pub mod cli;
pub mod cmd;
pub mod cni;
pub mod datadir;
pub mod device;
pub mod devinfo;
pub mod failpoint;
pub mod fault;
pub mod ifname;
pub mod log;
pub mod netlink;
pub mod netns;
pub mod safedir;
pub mod state;
pub mod sysfs;
pub mod vf;
