use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// text | json
    #[arg(short, long, default_value = "text")]
    output: String,
}

/// The Kubernetes versions ork is built and tested for (k8s-openapi's range).
pub const KUBERNETES_RANGE: &str = "1.33–1.37";

pub fn run(a: &Args) -> u8 {
    let features: Vec<&str> = [
        ("dev", cfg!(feature = "dev")),
        ("runtime", cfg!(feature = "runtime")),
        ("gateway", cfg!(feature = "gateway")),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    let commit = option_env!("ORK_COMMIT").unwrap_or("unknown");
    if a.output == "json" {
        println!(
            "{}",
            json!({"version": env!("CARGO_PKG_VERSION"), "commit": commit, "features": features, "kubernetes": KUBERNETES_RANGE})
        );
    } else {
        println!(
            "ork {} (commit {commit}; features {}; Kubernetes {KUBERNETES_RANGE})",
            env!("CARGO_PKG_VERSION"),
            features.join(", ")
        );
    }
    crate::exit::OK
}
