//! The mock upstream the server relays from, served in the bench process on a loopback port.
//!
//! Every run streams the same page, cut into exactly the requested number of model-like
//! deltas, so that runs are comparable: a paced, stamped stream for the relay, an instant one
//! for the burst and the pages.

use std::time::Duration;

use livepage::mock::{Content, MockUpstream, Script, deltas_for};
use tokio::task::JoinHandle;
use url::Url;

/// The mock, serving until dropped.
pub struct Upstream {
    pub mock: MockUpstream,
    pub url: Url,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Serves `deltas` content deltas per request, `pace` apart, stamped with their send time
    /// when `stamp` is on.
    pub async fn start(deltas: usize, pace: Duration, stamp: bool) -> anyhow::Result<Self> {
        let mock = MockUpstream::new(script(deltas, pace, stamp));
        // Thousands of requests: recording each one would only measure our own memory.
        mock.set_recording(false);
        let (url, task) = mock.spawn().await?;
        Ok(Self { mock, url, task })
    }

    /// Makes the next request an instant stream, e.g. to warm the server up.
    pub fn push_instant(&self, deltas: usize) {
        self.mock.push(script(deltas, Duration::ZERO, false));
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn script(deltas: usize, pace: Duration, stamp: bool) -> Script {
    Script {
        content: Content::Deltas(page_deltas(deltas)),
        pace,
        // Straight to the content: the time to the first delta is then the relay's, plus
        // one pace for the role chunk.
        comments: 0,
        stamp,
        ..Script::default()
    }
}

/// A landing page cut into exactly `count` deltas, the last one closing the document.
pub fn page_deltas(count: usize) -> Vec<String> {
    let mut body = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Benchmark bakery</title></head>\n\
         <body class=\"bg-white text-slate-900\"><main class=\"mx-auto max-w-3xl p-6\">\n",
    );
    let mut section = 0;
    let mut deltas = deltas_for(&body);
    while deltas.len() < count {
        section += 1;
        body.push_str(&format!(
            "<section class=\"py-8\"><h2 class=\"text-2xl font-bold\">Fresh loaf number \
             {section}</h2><p class=\"mt-2 text-slate-600\">Baked before dawn with stone-ground \
             flour, a long cold rise and a crust that sings as it cools.</p></section>\n"
        ));
        deltas = deltas_for(&body);
    }
    deltas.truncate(count.saturating_sub(1));
    deltas.push("</main></body></html>\n".to_owned());
    deltas.truncate(count);
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_exactly_the_requested_deltas_and_ends_closed() {
        for count in [1, 10, 400, 1000] {
            let deltas = page_deltas(count);
            assert_eq!(deltas.len(), count);
            assert!(deltas.concat().ends_with("</html>\n"));
        }
    }
}
