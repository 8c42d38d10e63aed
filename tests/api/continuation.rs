//! A page cut off by the model's length limit continues by itself (issue 17): the mock upstream
//! cuts its output where each test says and continues it the way models do — repeating what it
//! was given, with a preamble, in a new code fence — and the page that comes out is the page
//! the model would have written in one go, with every passage once.

use livepage::demo::demo_page;
use livepage::domain::{PageType, Theme};
use livepage::mock::{Content, Fault, Resume, Script, deltas_for};
use livepage::store::StoreOptions;
use serde_json::Value;

use crate::helpers::{
    Backend, SseEvent, TestApp, backend_tests, body, deltas, last, read_events, spawn_app_with,
};

/// A page as a model writes it: fenced, indented, with attributes, entities, characters of
/// every width (a combining accent, a curly quote, an emoji) and long lines.
const PAGE: &str = r##"```html
<!DOCTYPE html>
<html lang="pt">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Padaria Zoë — sourdough in Lisbon</title>
</head>
<body class="min-h-screen bg-amber-50 text-stone-800">
  <header class="mx-auto flex max-w-5xl items-center justify-between px-6 py-4">
    <a href="#top" class="text-2xl font-bold tracking-tight">Padaria Zoë</a>
    <nav class="hidden gap-6 md:flex"><a href="#bread">Bread</a><a href="#visit">Visit</a></nav>
  </header>
  <main id="top">
    <section class="mx-auto max-w-5xl px-6 py-24 text-center">
      <h1 class="text-5xl font-extrabold">Bread worth waking up for 🍞</h1>
      <p class="mt-6 text-lg text-stone-600">Naturally leavened sourdough, baked every night in Alfama by Zoë and her café crew — crackling crust, open crumb, nothing else.</p>
      <a href="#visit" class="mt-10 inline-block rounded-full bg-amber-700 px-8 py-3 font-semibold text-white shadow hover:bg-amber-800">Find the bakery</a>
    </section>
    <section id="bread" class="bg-white py-20">
      <div class="mx-auto grid max-w-5xl gap-8 px-6 md:grid-cols-3">
        <article class="rounded-2xl border border-amber-100 p-6">
          <h2 class="text-xl font-semibold">Pão de centeio</h2>
          <p class="mt-2 text-stone-600">Dark rye with caraway, fermented for thirty-six hours &amp; baked in a wood oven.</p>
        </article>
        <article class="rounded-2xl border border-amber-100 p-6">
          <h2 class="text-xl font-semibold">Broa de milho</h2>
          <p class="mt-2 text-stone-600">Cornbread the way Zoë’s grandmother made it, dense and golden.</p>
        </article>
        <article class="rounded-2xl border border-amber-100 p-6">
          <h2 class="text-xl font-semibold">Pastel de nata</h2>
          <p class="mt-2 text-stone-600">Caramelised custard in flaky pastry, still warm at seven, with a café on the side.</p>
        </article>
      </div>
    </section>
    <section id="visit" class="mx-auto max-w-5xl px-6 py-20">
      <h2 class="text-3xl font-bold">Visit us</h2>
      <p class="mt-4">Rua de São Miguel 12, Lisboa · open every day from 7:00 to 19:00</p>
    </section>
  </main>
  <footer class="border-t border-amber-100 py-8 text-center text-sm text-stone-500">© 2026 Padaria Zoë</footer>
</body>
</html>
```"##;

/// The byte offset `offset` bytes into the first `needle` of [`PAGE`].
fn at(needle: &str, offset: usize) -> usize {
    PAGE.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is in the page"))
        + offset
}

/// Where the length limit cuts [`PAGE`] in each case: byte offsets (one inside a character).
fn cuts() -> Vec<(&'static str, usize)> {
    let inside_char = at("🍞", 2);
    assert!(!PAGE.is_char_boundary(inside_char));
    vec![
        (
            "inside a tag",
            at(
                "<article class=\"rounded-2xl border border-amber-100 p-6\">\n          <h2 class=\"text-xl font-semibold\">Broa",
                4,
            ),
        ),
        (
            "inside an attribute value",
            at("class=\"mt-10 inline-block", 17),
        ),
        ("mid-word", at("sourdough, baked", 5)),
        ("inside a character", inside_char),
        ("between a letter and its accent", at("e\u{301}", 1)),
        ("after a multi-byte character", at("Zoë’s", "Zoë’".len())),
        ("on a line end", at("</header>\n", "</header>\n".len())),
    ]
}

/// The repeats a continuation opens with, by how many characters before the cut it resumes.
#[derive(Debug, Clone, Copy)]
enum Repeat {
    None,
    /// From the start of the line it was cut in (the line before, for a cut on a line end).
    Line,
    Chars(usize),
}

impl Repeat {
    const ALL: [Repeat; 6] = [
        Repeat::None,
        Repeat::Line,
        Repeat::Chars(16),
        Repeat::Chars(40),
        Repeat::Chars(120),
        Repeat::Chars(300),
    ];

    /// Characters repeated for a cut at `cut` (moved to a character's start).
    fn chars(self, text: &str, cut: usize) -> usize {
        let written = &text[..floor_char_boundary(text, cut)];
        match self {
            Repeat::None => 0,
            Repeat::Line => {
                let line_end = written.len() - usize::from(written.ends_with('\n'));
                let line_start = written[..line_end].rfind('\n').map_or(0, |at| at + 1);
                written[line_start..].chars().count()
            }
            Repeat::Chars(n) => n,
        }
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

const PREAMBLE: &str =
    "Sure! Here is the rest of the page, continuing exactly where it stopped:\n\n";

/// The four ways a continuation may open: plain, after a preamble, in a new fence, both.
fn openings(overlap: usize) -> [Resume; 4] {
    [(false, false), (true, false), (false, true), (true, true)].map(|(preamble, fence)| Resume {
        preamble: preamble.then(|| PREAMBLE.to_owned()),
        fence,
        overlap,
    })
}

/// The script of each request of a generation of `text` cut at `cuts`: the first, then one per
/// continuation, opening as `resumes` say.
fn push_segments(app: &TestApp, text: &str, cuts: &[usize], resumes: &[Resume]) {
    let first = std::iter::once(Resume::default());
    for resume in first.chain(resumes.iter().cloned()) {
        app.mock.push(Script {
            content: Content::Deltas(vec![text.to_owned()]),
            cuts: cuts.to_vec(),
            resume,
            ..Script::default()
        });
    }
}

/// An app that serves pages as stored: without the report link, whose URL names the page, so
/// that two pages of one document are the same bytes.
async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| config.pages.report_link = false).await
}

/// The published page of a completed stream, as a browser gets it.
async fn published(app: &TestApp, events: &[SseEvent]) -> String {
    let completed = last(events);
    assert_eq!(
        completed.event,
        "completed",
        "{:#?}",
        &events[events.len().saturating_sub(3)..]
    );
    let url = completed.data["live_url"].as_str().unwrap();
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The page published for `text` written in one go.
async fn published_uncut(app: &TestApp, text: &str) -> String {
    app.mock.push(Script {
        content: Content::Deltas(deltas_for(text)),
        ..Script::default()
    });
    let events = app.generate(&body("a bakery")).await;
    assert_eq!(deltas(&events), text);
    assert_eq!(last(&events).data["segments"], 1);
    published(app, &events).await
}

/// The deltas of `events` are `text`, and no passage around a seam came twice.
fn assert_merged_once(events: &[SseEvent], text: &str, cuts: &[usize], case: &str) {
    let streamed = deltas(events);
    for &cut in cuts {
        let cut = floor_char_boundary(text, cut.min(text.len()));
        let from = floor_char_boundary(text, cut.saturating_sub(24));
        let to = floor_char_boundary(text, (cut + 24).min(text.len()));
        let seam = &text[from..to];
        assert_eq!(
            streamed.matches(seam).count(),
            text.matches(seam).count(),
            "{case}: the passage {seam:?} around the seam is not there once"
        );
    }
    assert_eq!(streamed, text, "{case}: the deltas are not the page");
}

/// The `segment` of each `continuing` progress event, in order, with its attempt.
fn continuing(events: &[SseEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter(|e| e.event == "progress" && e.data["stage"] == "continuing")
        .map(|e| {
            (
                e.data["segment"].as_u64().unwrap(),
                e.data["attempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The generation row of a stream, read from the database.
async fn stored(app: &TestApp, events: &[SseEvent]) -> livepage::store::GenerationRecord {
    let id = events[0].data["generation_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let store = app.database().connect(&StoreOptions::default()).await;
    let record = store.generation(id).await.expect("the generation row");
    store.close().await;
    record
}

backend_tests! {
    async fn a_page_cut_anywhere_and_continued_any_way_is_the_page_written_in_one_go(backend: Backend) {
        let app = spawn(backend).await;
        let uncut = published_uncut(&app, PAGE).await;
        let mut runs = 0;
        for (place, cut) in cuts() {
            for (n, repeat) in Repeat::ALL.into_iter().enumerate() {
                let overlap = repeat.chars(PAGE, cut);
                // Every repeat with one opening in turn, and every opening with the line repeated.
                let resumes: Vec<Resume> = match repeat {
                    Repeat::Line => openings(overlap).to_vec(),
                    _ => vec![openings(overlap)[(n + runs) % 4].clone()],
                };
                for resume in resumes {
                    let case = format!("cut {place}, {repeat:?} ({overlap} characters), {resume:?}");
                    push_segments(&app, PAGE, &[cut], &[resume]);
                    let events = app.generate(&body("a bakery")).await;
                    assert_merged_once(&events, PAGE, &[cut], &case);
                    assert_eq!(last(&events).data["segments"], 2, "{case}");
                    assert_eq!(continuing(&events), [(2, 1)], "{case}");
                    assert_eq!(published(&app, &events).await, uncut, "{case}: the page differs");
                    runs += 1;
                }
            }
        }
        assert_eq!(app.mock.requests().len(), 1 + 2 * runs);
        app.stop().await;
    }

    async fn two_continuations_make_one_page_and_their_usage_adds_up(backend: Backend) {
        let app = spawn(backend).await;
        let uncut = published_uncut(&app, PAGE).await;
        let before = app.mock.requests().len();
        let cuts = [at("Pão", 1), at("Rua de São", "Rua de Sã".len())];
        let resumes = [
            Resume { preamble: Some(PREAMBLE.to_owned()), fence: false, overlap: 57 },
            Resume { preamble: None, fence: true, overlap: Repeat::Line.chars(PAGE, cuts[1]) },
        ];
        push_segments(&app, PAGE, &cuts, &resumes);
        let events = app.generate(&body("a bakery")).await;
        assert_merged_once(&events, PAGE, &cuts, "two continuations");
        assert_eq!(published(&app, &events).await, uncut);
        let completed = &last(&events).data;
        assert_eq!(completed["segments"], 3);
        assert_eq!(continuing(&events), [(2, 1), (3, 1)]);

        // The continuations carried the page so far as the assistant's prefill, after an
        // instruction, and each was billed on its own: the usage is their sum.
        let requests = &app.mock.requests()[before..];
        assert_eq!(requests.len(), 3);
        let messages = |i: usize| requests[i].body["messages"].as_array().unwrap().clone();
        assert_eq!(messages(0).len(), 2);
        for (i, cut) in [(1, cuts[0]), (2, cuts[1])] {
            let messages = messages(i);
            let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
            assert_eq!(roles, ["system", "user", "user", "assistant"]);
            assert_eq!(messages[1]["content"], "a bakery");
            assert!(messages[2]["content"].as_str().unwrap().contains("exactly where it stops"));
            assert_eq!(messages[3]["content"], &PAGE[..floor_char_boundary(PAGE, cut)]);
        }
        let segments = [
            PAGE[..cuts[0]].to_owned(),
            format!("{PREAMBLE}{}", &PAGE[chars_before(PAGE, cuts[0], 57)..cuts[1]]),
            format!("```html\n{}", &PAGE[chars_before(PAGE, cuts[1], resumes[1].overlap)..]),
        ];
        let completion: usize = segments.iter().map(|s| deltas_for(s).len()).sum();
        let prompt: u64 = requests.iter().map(billed_prompt_tokens).sum();
        assert_eq!(completed["usage"]["completion_tokens"], completion);
        assert_eq!(completed["usage"]["prompt_tokens"], prompt);
        let cost = (prompt * 3 + completion as u64 * 15) as f64 / 10_000_000.0;
        assert!((completed["usage"]["cost"].as_f64().unwrap() - cost).abs() < 1e-9);
        let record = stored(&app, &events).await;
        assert_eq!(record.usage.unwrap().completion_tokens, completion as u64);
        assert_eq!(record.segments, Some(3));
        app.stop().await;
    }

    async fn a_page_still_cut_after_the_last_continuation_is_truncated_and_not_saved(backend: Backend) {
        let app = spawn(backend).await;
        let cuts = [at("Bread worth", 3), at("thirty-six", 6), at("Visit us", 0)];
        push_segments(&app, PAGE, &cuts, &[Resume { overlap: 30, ..Resume::default() }, Resume::default()]);
        let events = app.generate(&body("a bakery")).await;
        let error = &last(&events).data;
        assert_eq!(error["code"], "truncated", "{error}");
        assert!(error["message"].as_str().unwrap().contains("after 2 continuations"), "{error}");
        assert_eq!(continuing(&events), [(2, 1), (3, 1)]);
        assert_eq!(deltas(&events), PAGE[..cuts[2]], "what was written, once");
        let record = stored(&app, &events).await;
        assert_eq!(record.error_code.map(|code| code.as_str()), Some("truncated"));
        assert_eq!(record.partial_output.as_deref(), Some(&PAGE[..cuts[2]]));
        assert_eq!(record.page_id, None);
        assert_eq!(record.segments, Some(3));
        let (_, history) = app.get_json("/api/history?email=ann@example.com").await;
        assert_eq!(history["pages"], Value::Array(vec![]), "no page is saved");
        assert_eq!(app.mock.requests().len(), 3, "no fourth request");
        app.stop().await;
    }

    async fn without_continuations_a_cut_page_is_truncated_at_once(backend: Backend) {
        let app = spawn_app_with(backend, |config| config.generation.max_continuations = 0).await;
        push_segments(&app, PAGE, &[at("<main", 0)], &[]);
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(last(&events).data["code"], "truncated");
        assert!(continuing(&events).is_empty());
        assert_eq!(app.mock.requests().len(), 1);
        app.stop().await;
    }

    async fn a_failure_in_a_continuation_ends_the_generation_and_keeps_what_was_written(backend: Backend) {
        let app = spawn(backend).await;
        let cut = at("Naturally leavened", 0);
        app.mock.push(Script { content: Content::Deltas(vec![PAGE.into()]), cuts: vec![cut], ..Script::default() });
        app.mock.push(Script {
            content: Content::Deltas(vec![PAGE.into()]),
            cuts: vec![cut],
            resume: Resume { overlap: 20, ..Resume::default() },
            fault: Some(Fault::MidStreamError { after: 6, empty_choices: false }),
            ..Script::default()
        });
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(last(&events).data["code"], "upstream_error");
        let written = deltas(&events);
        assert!(written.len() > cut && PAGE.starts_with(&written), "the page so far, once: {written:?}");
        let record = stored(&app, &events).await;
        assert_eq!(record.partial_output.as_deref(), Some(written.as_str()));
        assert_eq!(record.page_id, None);
        assert_eq!(app.mock.requests().len(), 2, "nothing is retried after a continuation's first token");
        app.stop().await;
    }

    async fn a_continuation_is_retried_before_its_first_token_like_any_request(backend: Backend) {
        let app = spawn(backend).await;
        let uncut = published_uncut(&app, PAGE).await;
        let cut = at("<section id=\"bread\"", 0);
        let segment = Script { content: Content::Deltas(vec![PAGE.into()]), cuts: vec![cut], ..Script::default() };
        app.mock.push(segment.clone());
        app.mock.push(Script { status: Some(503), ..Script::default() });
        app.mock.push(segment);
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(continuing(&events), [(2, 1), (2, 2)]);
        assert_merged_once(&events, PAGE, &[cut], "retried continuation");
        assert_eq!(published(&app, &events).await, uncut);
        app.stop().await;
    }

    async fn a_continuation_that_fails_before_its_first_token_ends_the_generation(backend: Backend) {
        let app = spawn_app_with(backend, |config| config.generation.max_attempts = 2).await;
        let cut = at("<header", 0);
        app.mock.push(Script { content: Content::Deltas(vec![PAGE.into()]), cuts: vec![cut], ..Script::default() });
        app.mock.push(Script { status: Some(502), ..Script::default() });
        app.mock.push(Script { status: Some(503), ..Script::default() });
        let events = app.generate(&body("a bakery")).await;
        let error = &last(&events).data;
        assert_eq!(error["code"], "upstream_unavailable", "{error}");
        assert!(error["message"].as_str().unwrap().starts_with("while continuing the page"), "{error}");
        assert_eq!(last(&events).data["retryable"], true);
        let record = stored(&app, &events).await;
        assert_eq!(record.partial_output.as_deref(), Some(&PAGE[..cut]));
        assert_eq!(app.mock.requests().len(), 3);
        app.stop().await;
    }

    async fn a_continuation_with_nothing_left_to_write_finishes_the_page(backend: Backend) {
        let app = spawn(backend).await;
        let uncut = published_uncut(&app, PAGE).await;
        // The limit falls on the very last character: the model has nothing to add.
        push_segments(&app, PAGE, &[PAGE.len()], &[Resume::default()]);
        let events = app.generate(&body("a bakery")).await;
        assert_merged_once(&events, PAGE, &[], "nothing left");
        assert_eq!(last(&events).data["segments"], 2);
        assert_eq!(published(&app, &events).await, uncut);
        app.stop().await;
    }

    async fn the_demo_page_cut_twice_is_the_demo_page(backend: Backend) {
        let app = spawn(backend).await;
        let prompt = "a portfolio for Zoë, a ceramicist in Lisbon — <bowls> & \"vases\"";
        let request = serde_json::json!({"email": "zoe@example.com", "prompt": prompt, "page_type": "portfolio", "theme": "elegant"});
        let page = demo_page(prompt, PageType::Portfolio, Theme::Elegant);
        let uncut = published(&app, &app.generate(&request).await).await;
        let cuts = vec![page.len() / 3, 2 * page.len() / 3];
        for resume in [
            Resume::default(),
            Resume { preamble: Some("Continuing:\n".into()), fence: true, overlap: 200 },
            Resume { preamble: None, fence: true, overlap: 24 },
        ] {
            app.mock.push(Script { cuts: cuts.clone(), resume, ..Script::default() });
        }
        let events = app.generate(&request).await;
        assert_merged_once(&events, &page, &cuts, "the demo page");
        assert_eq!(last(&events).data["segments"], 3);
        assert_eq!(published(&app, &events).await, uncut);
        app.stop().await;
    }

    async fn a_client_resuming_across_a_seam_gets_the_rest_of_the_page_once(backend: Backend) {
        let app = spawn(backend).await;
        let cut = PAGE.find("Broa de milho").unwrap();
        push_segments(&app, PAGE, &[cut], &[Resume { preamble: Some(PREAMBLE.into()), fence: true, overlap: 90 }]);
        let events = app.generate(&body("a bakery")).await;
        assert_merged_once(&events, PAGE, &[cut], "resumed");
        let seam = events
            .iter()
            .find(|e| e.event == "progress" && e.data["stage"] == "continuing")
            .unwrap()
            .id;
        let before: String = deltas(&events.iter().filter(|e| e.id <= seam).cloned().collect::<Vec<_>>());
        let events_url = events[0].data["events_url"].as_str().unwrap();
        let resumed = read_events(
            app.client.get(events_url).header("Last-Event-ID", seam.to_string()).send().await.unwrap(),
        )
        .await;
        assert_eq!(resumed[0].id, seam + 1);
        assert_eq!(format!("{before}{}", deltas(&resumed)), PAGE);
        assert_eq!(last(&resumed).event, "completed");
        app.stop().await;
    }
}

/// The byte offset `count` characters before `at`.
fn chars_before(text: &str, at: usize, count: usize) -> usize {
    text[..at]
        .char_indices()
        .rev()
        .nth(count.saturating_sub(1))
        .map_or(0, |(offset, _)| offset)
}

/// What the mock bills for a request's prompt: a quarter of the characters of its messages.
fn billed_prompt_tokens(request: &livepage::mock::RecordedRequest) -> u64 {
    let chars: usize = request.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().chars().count())
        .sum();
    chars.div_ceil(4).max(1) as u64
}
