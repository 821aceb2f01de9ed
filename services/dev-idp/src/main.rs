//! The `dev-idp` binary: development-only identity provider. Exits with an error unless
//! explicitly enabled (`DEV_IDP_ENABLED=true` or `--enable-insecure-dev-idp`).

use clap::Parser;
use orderflow_dev_idp::{DevIdp, DevIdpSettings};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    orderflow_runtime::telemetry::init("info", false);
    let settings = DevIdpSettings::parse();
    let idp = match DevIdp::build(settings).await {
        Ok(idp) => idp,
        Err(error) => {
            eprintln!("dev-idp: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::warn!(addr = %idp.local_addr(), "dev identity provider listening — DEVELOPMENT ONLY, never deploy");
    match idp.run(orderflow_runtime::shutdown::signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dev-idp: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
