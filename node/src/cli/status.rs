//! `x0 status`: a running node's `/status`, for a person (or as JSON).

use clap::Args;

use crate::cli::common::{node_client, runtime, send_to_node};
use crate::http::status::Status;
use crate::NodeError;

#[derive(Args)]
pub struct StatusArgs {
    /// The node's HTTP endpoint, e.g. http://127.0.0.1:9480
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9480")]
    api: reqwest::Url,
    /// Print the raw JSON instead.
    #[arg(long)]
    json: bool,
}

/// Runs `x0 status`.
pub fn run(args: StatusArgs) -> Result<(), NodeError> {
    let url = args
        .api
        .join("/status")
        .map_err(|e| NodeError::Config(format!("--api {}: {e}", args.api)))?;
    runtime()?.block_on(async move {
        let response = send_to_node(node_client()?.get(url.clone()), &url).await?;
        if !response.status().is_success() {
            return Err(NodeError::Runtime(format!(
                "{url}: HTTP {}",
                response.status()
            )));
        }
        let text = response
            .text()
            .await
            .map_err(|e| NodeError::Runtime(format!("{url}: {e}")))?;
        if args.json {
            println!("{text}");
            return Ok(());
        }
        let status: Status = serde_json::from_str(&text)
            .map_err(|e| NodeError::Runtime(format!("{url}: not an x0 status document: {e}")))?;
        print!("{}", status.render());
        Ok(())
    })
}
