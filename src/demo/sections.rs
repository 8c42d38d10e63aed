//! The sections of a demo page: the shared frame (nav, hero, footer) and the body of each page
//! type, written against a [`Palette`]'s roles.
//!
//! The copy is generic but real — what a model would write for a business it knows only by
//! name — with the subject's name woven in, so every page reads as being about the prompt.

use std::fmt::{self, Write};

use super::{Brief, Palette};
use crate::domain::PageType;

/// A visible keyboard focus ring for the main calls to action.
const FOCUS: &str = "focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2";

/// Inline icons (24×24 outline paths in the Heroicons style), as a model would draw them.
#[derive(Debug, Clone, Copy)]
enum Icon {
    Sparkles,
    Bolt,
    Heart,
    Shield,
    Clock,
    Pin,
    Calendar,
    Star,
    Arrow,
}

impl Icon {
    fn path(self) -> &'static str {
        match self {
            Self::Sparkles => {
                "M5 3v4M3 5h4M6 17v4m-2-2h4m5-16l2.286 6.857L21 12l-5.714 2.143L13 21l-2.286-6.857L5 12l5.714-2.143L13 3z"
            }
            Self::Bolt => "M13 10V3L4 14h7v7l9-11h-7z",
            Self::Heart => {
                "M4.318 6.318a4.5 4.5 0 000 6.364L12 20.364l7.682-7.682a4.5 4.5 0 00-6.364-6.364L12 7.636l-1.318-1.318a4.5 4.5 0 00-6.364 0z"
            }
            Self::Shield => {
                "M9 12l2 2 4-4m5.618-4.016A11.955 11.955 0 0112 2.944a11.955 11.955 0 01-8.618 3.04A12.02 12.02 0 003 9c0 5.591 3.824 10.29 9 11.622 5.176-1.332 9-6.03 9-11.622 0-1.042-.133-2.052-.382-3.016z"
            }
            Self::Clock => "M12 8v4l3 3m6-3a9 9 0 11-18 0 9 9 0 0118 0z",
            Self::Pin => {
                "M17.657 16.657L13.414 20.9a2 2 0 01-2.827 0l-4.244-4.243a8 8 0 1111.314 0zM15 11a3 3 0 11-6 0 3 3 0 016 0z"
            }
            Self::Calendar => {
                "M8 7V3m8 4V3m-9 8h10M5 21h14a2 2 0 002-2V7a2 2 0 00-2-2H5a2 2 0 00-2 2v12a2 2 0 002 2z"
            }
            Self::Arrow => "M13 7l5 5m0 0l-5 5m5-5H6",
            Self::Star => {
                "M11.48 3.5a.56.56 0 011.04 0l2.12 5.11 5.52.44c.5.04.7.66.32.99l-4.2 3.6 1.28 5.38a.56.56 0 01-.84.61L12 16.75l-4.72 2.88a.56.56 0 01-.84-.61l1.28-5.38-4.2-3.6a.56.56 0 01.32-.99l5.52-.44 2.12-5.11z"
            }
        }
    }
}

fn icon(out: &mut String, icon: Icon, class: &str) -> fmt::Result {
    write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" class="{class}" aria-hidden="true"><path d="{}"/></svg>"#,
        icon.path()
    )
}

/// Opens a section with its centred heading; the caller closes it with [`close_section`].
/// `bg` is a background class, or empty for the page's own.
fn open_section(
    out: &mut String,
    p: &Palette,
    id: &str,
    bg: &str,
    title: &str,
    sub: &str,
) -> fmt::Result {
    let space = if bg.is_empty() { "" } else { " " };
    write!(
        out,
        r#"    <section id="{id}" class="py-20 md:py-28{space}{bg}">
      <div class="mx-auto max-w-6xl px-6">
        <div class="mx-auto max-w-2xl text-center">
          <h2 class="text-3xl md:text-4xl {heading}">{title}</h2>
          <p class="mt-4 text-lg {muted}">{sub}</p>
        </div>
"#,
        heading = p.heading,
        muted = p.muted,
    )
}

fn close_section(out: &mut String) -> fmt::Result {
    out.write_str("      </div>\n    </section>\n")
}

/// The sticky navigation bar: the name, in-page links for the page type, one call to action.
pub(super) fn nav(out: &mut String, b: &Brief, page_type: PageType, p: &Palette) -> fmt::Result {
    let (links, cta): (&[(&str, &str)], (&str, &str)) = match page_type {
        PageType::Landing => (
            &[("features", "Features"), ("testimonials", "Stories")],
            ("contact", "Get started"),
        ),
        PageType::Portfolio => (
            &[("work", "Work"), ("skills", "Skills")],
            ("contact", "Hire me"),
        ),
        PageType::Blog => (
            &[("featured", "Featured"), ("posts", "Latest")],
            ("subscribe", "Subscribe"),
        ),
        PageType::Product => (
            &[
                ("features", "Features"),
                ("pricing", "Pricing"),
                ("faq", "FAQ"),
            ],
            ("pricing", "Buy now"),
        ),
        PageType::Event => (
            &[("schedule", "Schedule"), ("speakers", "Speakers")],
            ("register", "Register"),
        ),
        PageType::Restaurant => (
            &[("menu", "Menu"), ("visit", "Visit")],
            ("reserve", "Book a table"),
        ),
        PageType::Resume => (
            &[("experience", "Experience"), ("skills", "Skills")],
            ("contact", "Contact"),
        ),
    };
    write!(
        out,
        r##"  <nav class="sticky top-0 z-50 {nav}">
    <div class="mx-auto flex max-w-6xl items-center justify-between px-6 py-4">
      <a href="#top" class="text-lg {heading}">{name}</a>
      <div class="hidden items-center gap-8 text-sm font-medium md:flex">
"##,
        nav = p.nav,
        heading = p.heading,
        name = b.name,
    )?;
    for (id, label) in links {
        writeln!(
            out,
            r##"        <a href="#{id}" class="{} hover:opacity-70">{label}</a>"##,
            p.muted
        )?;
    }
    write!(
        out,
        r##"        <a href="#{}" class="{} {} px-4 py-2">{}</a>
      </div>
    </div>
  </nav>
"##,
        cta.0, p.radius, p.button, cta.1
    )
}

/// The hero: eyebrow, the subject as headline, the prompt's detail as subline, two buttons.
pub(super) fn hero(out: &mut String, b: &Brief, page_type: PageType, p: &Palette) -> fmt::Result {
    let (eyebrow, default_sub, primary, secondary) = match page_type {
        PageType::Landing => (
            "Welcome",
            "Everything you love, thoughtfully made and ready when you are.",
            ("contact", "Get started"),
            ("features", "Learn more"),
        ),
        PageType::Portfolio => (
            "Portfolio",
            "Selected work, the skills behind it, and an open door for your next project.",
            ("work", "View my work"),
            ("contact", "Get in touch"),
        ),
        PageType::Blog => (
            "The blog",
            "Stories, field notes and practical guides, published every week.",
            ("featured", "Read the latest"),
            ("subscribe", "Subscribe"),
        ),
        PageType::Product => (
            "Introducing",
            "Built to make every day a little easier. See what it does, what it costs, and what people ask.",
            ("pricing", "See pricing"),
            ("faq", "Read the FAQ"),
        ),
        PageType::Event => (
            "Save the date",
            "A day of talks, workshops and good conversation. Seats are limited.",
            ("register", "Register now"),
            ("schedule", "View schedule"),
        ),
        PageType::Restaurant => (
            "Now taking reservations",
            "Seasonal food, honest cooking and a warm table waiting for you.",
            ("reserve", "Book a table"),
            ("menu", "See the menu"),
        ),
        PageType::Resume => (
            "Résumé",
            "Careful, reliable work and a habit of helping teams do their best.",
            ("contact", "Contact me"),
            ("experience", "Experience"),
        ),
    };
    let sub = b.detail.as_deref().unwrap_or(default_sub);
    write!(
        out,
        r##"  <header id="top" class="{hero}">
    <div class="mx-auto max-w-6xl px-6 py-24 text-center md:py-32">
      <p class="text-sm font-semibold uppercase tracking-widest {accent}">{eyebrow}</p>
      <h1 class="mt-4 text-5xl md:text-7xl {heading}"><span class="{headline}">{name}</span></h1>
      <p class="mx-auto mt-6 max-w-2xl text-lg md:text-xl {muted}">{sub}</p>
      <div class="mt-10 flex flex-col justify-center gap-4 sm:flex-row">
        <a href="#{p_id}" class="{radius} {button} px-8 py-3 font-semibold {focus}">{p_label}</a>
        <a href="#{s_id}" class="{radius} {ghost} px-8 py-3 font-semibold {focus}">{s_label}</a>
      </div>
    </div>
  </header>
"##,
        hero = p.hero,
        accent = p.accent,
        heading = p.heading,
        headline = p.headline,
        name = b.name,
        muted = p.muted,
        radius = p.radius,
        button = p.button,
        ghost = p.ghost,
        p_id = primary.0,
        p_label = primary.1,
        s_id = secondary.0,
        s_label = secondary.1,
        focus = FOCUS,
    )
}

/// Three cards with an icon, a title and a sentence each.
fn icon_cards(out: &mut String, p: &Palette, cards: &[(Icon, &str, &str)]) -> fmt::Result {
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-8 md:grid-cols-3">"#
    )?;
    for &(kind, title, text) in cards {
        write!(
            out,
            r#"          <div class="{radius} {card} p-8">
            <div class="flex h-12 w-12 items-center justify-center {radius} {tile}">"#,
            radius = p.radius,
            card = p.card,
            tile = p.icon,
        )?;
        icon(out, kind, "h-6 w-6")?;
        write!(
            out,
            r#"</div>
            <h3 class="mt-6 text-xl {heading}">{title}</h3>
            <p class="mt-2 {muted}">{text}</p>
          </div>
"#,
            heading = p.heading,
            muted = p.muted,
        )?;
    }
    writeln!(out, "        </div>")
}

/// A full-width call to action on the theme's gradient band.
fn band(
    out: &mut String,
    p: &Palette,
    id: &str,
    title: &str,
    text: &str,
    action: &str,
) -> fmt::Result {
    write!(
        out,
        r##"    <section id="{id}" class="px-6 py-20">
      <div class="mx-auto max-w-5xl {radius} {band} px-8 py-16 text-center shadow-2xl md:px-16">
        <h2 class="text-3xl md:text-4xl {display}">{title}</h2>
        <p class="mx-auto mt-4 max-w-xl text-lg opacity-90">{text}</p>
        <a href="mailto:hello@example.com" class="mt-8 inline-block {radius} bg-white px-8 py-3 font-semibold text-slate-900 transition hover:opacity-90">{action}</a>
      </div>
    </section>
"##,
        radius = p.radius,
        band = p.band,
        display = p.display,
    )
}

pub(super) fn landing(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    let name = &b.name;
    open_section(
        out,
        p,
        "features",
        p.alt,
        &format!("Why people choose {name}"),
        "Small things, done properly, every single day.",
    )?;
    icon_cards(
        out,
        p,
        &[
            (
                Icon::Sparkles,
                "Made with care",
                "Every detail is considered, from the first hello to the last thank-you.",
            ),
            (
                Icon::Bolt,
                "Quick and easy",
                "No waiting and no fuss: get what you came for in minutes, whenever suits you.",
            ),
            (
                Icon::Heart,
                "Loved by regulars",
                "Hundreds of people come back every week, and they bring their friends.",
            ),
        ],
    )?;
    close_section(out)?;
    open_section(
        out,
        p,
        "testimonials",
        "",
        "Kind words",
        &format!("What people say about {name}."),
    )?;
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-8 md:grid-cols-3">"#
    )?;
    for (quote, who, role) in [
        (
            "Honestly the best part of my week. Friendly, fast and always worth it.",
            "Maya Robinson",
            "Regular since 2019",
        ),
        (
            "They remembered my name on the second visit. That is rare these days.",
            "Daniel Kim",
            "Local teacher",
        ),
        (
            "I recommend them to everyone. The quality speaks for itself.",
            "Priya Shah",
            "Small-business owner",
        ),
    ] {
        write!(
            out,
            r#"          <figure class="{radius} {card} p-8">
            <p class="text-lg tracking-widest {accent}" aria-label="Rated 5 out of 5">★★★★★</p>
            <blockquote class="mt-4 {heading}">“{quote}”</blockquote>
            <figcaption class="mt-6 text-sm {muted}"><span class="font-semibold">{who}</span> · {role}</figcaption>
          </figure>
"#,
            radius = p.radius,
            card = p.card,
            accent = p.accent,
            heading = p.heading,
            muted = p.muted,
        )?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)?;
    band(
        out,
        p,
        "contact",
        &format!("Ready to see what {name} can do for you?"),
        "Say hello today. We answer every message within one working day.",
        "Get in touch",
    )
}

pub(super) fn portfolio(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    open_section(
        out,
        p,
        "work",
        p.alt,
        "Selected work",
        "A few recent projects, from first sketch to launch.",
    )?;
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-8 md:grid-cols-2">"#
    )?;
    for (title, text, gradient, tags) in [
        (
            "Harbour Lights",
            "A brand and website refresh for a seaside hotel, doubling direct bookings.",
            "from-sky-400 to-indigo-500",
            ["Branding", "Web"],
        ),
        (
            "Field Journal",
            "An editorial app for naturalists to log sightings offline and share them later.",
            "from-emerald-400 to-teal-600",
            ["Product", "iOS"],
        ),
        (
            "Night Market",
            "Posters, signage and a map for a city food festival of forty thousand visitors.",
            "from-amber-400 to-rose-500",
            ["Print", "Wayfinding"],
        ),
        (
            "Quiet Hours",
            "A calm scheduling tool for small clinics, designed with nurses and receptionists.",
            "from-violet-400 to-fuchsia-500",
            ["UX", "Research"],
        ),
    ] {
        write!(
            out,
            r#"          <article class="group overflow-hidden {radius} {card}">
            <div class="aspect-video bg-gradient-to-br {gradient} transition group-hover:opacity-90"></div>
            <div class="p-6">
              <h3 class="text-xl {heading}">{title}</h3>
              <p class="mt-2 {muted}">{text}</p>
              <div class="mt-4 flex gap-2">"#,
            radius = p.radius,
            card = p.card,
            heading = p.heading,
            muted = p.muted,
        )?;
        for tag in tags {
            write!(
                out,
                r#"<span class="{} {} px-3 py-1 text-xs font-medium">{tag}</span>"#,
                p.radius, p.chip
            )?;
        }
        write!(
            out,
            r##"</div>
              <a href="#contact" class="mt-6 inline-flex items-center gap-2 font-semibold {} hover:underline">Read the case study "##,
            p.accent
        )?;
        icon(
            out,
            Icon::Arrow,
            "h-4 w-4 transition group-hover:translate-x-1",
        )?;
        out.write_str("</a>\n            </div>\n          </article>\n")?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)?;
    skills(
        out,
        p,
        &[
            "Art direction",
            "Brand identity",
            "UI design",
            "Prototyping",
            "Design systems",
            "User research",
            "Illustration",
            "Typography",
        ],
    )?;
    band(
        out,
        p,
        "contact",
        &format!("Let’s work together, says {}", b.name),
        "Tell me about your project. I reply to every enquiry within two days.",
        "Start a project",
    )
}

/// A section of skill chips.
fn skills(out: &mut String, p: &Palette, skills: &[&str]) -> fmt::Result {
    open_section(
        out,
        p,
        "skills",
        "",
        "Skills",
        "Tools and strengths I bring to every project.",
    )?;
    writeln!(
        out,
        r#"        <ul class="mx-auto mt-12 flex max-w-3xl flex-wrap justify-center gap-3">"#
    )?;
    for skill in skills {
        writeln!(
            out,
            r#"          <li class="{} {} px-4 py-2 font-medium">{skill}</li>"#,
            p.radius, p.chip
        )?;
    }
    writeln!(out, "        </ul>")?;
    close_section(out)
}

pub(super) fn blog(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    write!(
        out,
        r##"    <section id="featured" class="py-20 {alt}">
      <div class="mx-auto grid max-w-6xl items-center gap-12 px-6 md:grid-cols-2">
        <div class="aspect-[4/3] {radius} bg-gradient-to-br from-amber-300 via-rose-400 to-violet-500 shadow-xl"></div>
        <div>
          <p class="text-sm font-semibold uppercase tracking-widest {accent}">Featured · 8 min read</p>
          <h2 class="mt-3 text-3xl md:text-4xl {heading}">What a year of {name} taught us</h2>
          <p class="mt-4 text-lg {muted}">The mistakes, the surprises and the small habits that made the biggest difference — written down so you can skip the hard parts.</p>
          <a href="#posts" class="mt-6 inline-flex items-center gap-2 font-semibold {accent} hover:underline">Read the story "##,
        alt = p.alt,
        radius = p.radius,
        accent = p.accent,
        heading = p.heading,
        name = b.name,
        muted = p.muted,
    )?;
    icon(out, Icon::Arrow, "h-4 w-4")?;
    out.write_str("</a>\n        </div>\n      </div>\n    </section>\n")?;
    open_section(
        out,
        p,
        "posts",
        "",
        "Latest posts",
        "Fresh writing, straight from the notebook.",
    )?;
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-8 md:grid-cols-3">"#
    )?;
    for (date, title, text) in [
        (
            "March 12",
            "Getting started without overthinking it",
            "A short checklist for your first week, and what to ignore until later.",
        ),
        (
            "March 5",
            "Five tools we use every single day",
            "Nothing fancy: the dependable basics that save us hours each month.",
        ),
        (
            "February 26",
            "Lessons from our readers",
            "Your questions, our honest answers, and a few things we got wrong.",
        ),
    ] {
        write!(
            out,
            r##"          <article class="{radius} {card} p-6">
            <time class="text-sm {muted}">{date}</time>
            <h3 class="mt-2 text-xl {heading}"><a href="#posts" class="hover:underline">{title}</a></h3>
            <p class="mt-3 {muted}">{text}</p>
          </article>
"##,
            radius = p.radius,
            card = p.card,
            muted = p.muted,
            heading = p.heading,
        )?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)?;
    write!(
        out,
        r#"    <section id="subscribe" class="px-6 py-20">
      <div class="mx-auto max-w-3xl {radius} {band} px-8 py-12 text-center">
        <h2 class="text-3xl {display}">Never miss a post</h2>
        <p class="mt-3 opacity-90">One email a week. No spam, unsubscribe any time.</p>
        <form class="mt-8 flex flex-col gap-3 sm:flex-row">
          <label for="email" class="sr-only">Email address</label>
          <input id="email" type="email" placeholder="you@example.com" class="flex-1 {radius} border-0 px-4 py-3 text-slate-900">
          <button type="submit" class="{radius} bg-white px-6 py-3 font-semibold text-slate-900 hover:opacity-90">Subscribe</button>
        </form>
      </div>
    </section>
"#,
        radius = p.radius,
        band = p.band,
        display = p.display,
    )
}

pub(super) fn product(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    let name = &b.name;
    open_section(
        out,
        p,
        "features",
        p.alt,
        &format!("Why {name}"),
        "Designed around the way you actually work.",
    )?;
    icon_cards(
        out,
        p,
        &[
            (
                Icon::Bolt,
                "Fast from day one",
                "Set up in five minutes. No manuals, no training sessions, no waiting.",
            ),
            (
                Icon::Shield,
                "Private and secure",
                "Your data stays yours: encrypted, backed up daily, never sold.",
            ),
            (
                Icon::Heart,
                "Support that cares",
                "Real people answer within hours, seven days a week.",
            ),
        ],
    )?;
    close_section(out)?;
    open_section(
        out,
        p,
        "pricing",
        "",
        "Simple, honest pricing",
        "Start free for 14 days. No card required.",
    )?;
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-8 md:grid-cols-3">"#
    )?;
    for (tier, price, blurb, perks, featured) in [
        (
            "Starter",
            "$9",
            "For trying things out.",
            ["Core features", "1 user", "Email support"],
            false,
        ),
        (
            "Pro",
            "$29",
            "For people who rely on it.",
            ["Everything in Starter", "5 users", "Priority support"],
            true,
        ),
        (
            "Team",
            "$79",
            "For growing teams.",
            ["Everything in Pro", "Unlimited users", "Onboarding call"],
            false,
        ),
    ] {
        pricing_tier(out, p, tier, price, blurb, &perks, featured)?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)?;
    open_section(
        out,
        p,
        "faq",
        p.alt,
        "Questions, answered",
        &format!("Everything else you wanted to know about {name}."),
    )?;
    writeln!(
        out,
        r#"        <div class="mx-auto mt-12 max-w-3xl space-y-4">"#
    )?;
    for (question, answer) in [
        (
            "Can I cancel at any time?",
            "Yes. Cancel from your account page in two clicks; you keep access until the end of the period.",
        ),
        (
            "Is there a free trial?",
            "Every plan starts with 14 free days, and we never ask for a card up front.",
        ),
        (
            "Do you offer discounts?",
            "Students, charities and non-profits get 50% off. Just write to us.",
        ),
    ] {
        writeln!(
            out,
            r#"          <details class="{} {} p-6"><summary class="cursor-pointer {}">{question}</summary><p class="mt-3 {}">{answer}</p></details>"#,
            p.radius, p.card, p.heading, p.muted
        )?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)
}

fn pricing_tier(
    out: &mut String,
    p: &Palette,
    tier: &str,
    price: &str,
    blurb: &str,
    perks: &[&str],
    featured: bool,
) -> fmt::Result {
    // The featured tier stands out: ringed, a little larger, and a filled button.
    let ring = if featured {
        " ring-2 ring-current md:scale-105"
    } else {
        ""
    };
    write!(
        out,
        r##"          <div class="{radius} {card}{ring} p-8">
            <h3 class="text-lg {heading}">{tier}</h3>
            <p class="mt-4"><span class="text-4xl {heading}">{price}</span><span class="{muted}">/month</span></p>
            <p class="mt-2 {muted}">{blurb}</p>
            <ul class="mt-6 space-y-3">
"##,
        radius = p.radius,
        card = p.card,
        heading = p.heading,
        muted = p.muted,
    )?;
    for perk in perks {
        writeln!(
            out,
            r#"              <li class="flex items-center gap-2"><span class="font-bold {}" aria-hidden="true">✓</span>{perk}</li>"#,
            p.accent
        )?;
    }
    write!(
        out,
        r##"            </ul>
            <a href="#pricing" class="mt-8 block {} {} px-6 py-3 text-center font-semibold">Choose {tier}</a>
          </div>
"##,
        p.radius,
        if featured { p.button } else { p.ghost },
    )
}

pub(super) fn event(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    writeln!(
        out,
        r#"    <section class="{}"><div class="mx-auto grid max-w-6xl gap-6 px-6 py-10 md:grid-cols-3">"#,
        p.alt
    )?;
    for (kind, label, value) in [
        (Icon::Calendar, "When", "Saturday, 14 June · 9:00–18:00"),
        (Icon::Pin, "Where", "The Assembly Hall, 12 Market Street"),
        (
            Icon::Sparkles,
            "Format",
            "Talks, workshops and an evening social",
        ),
    ] {
        write!(
            out,
            r#"      <div class="flex items-center gap-4"><span class="flex h-12 w-12 shrink-0 items-center justify-center {} {}">"#,
            p.radius, p.icon
        )?;
        icon(out, kind, "h-6 w-6")?;
        writeln!(
            out,
            r#"</span><div><p class="text-sm {}">{label}</p><p class="font-semibold">{value}</p></div></div>"#,
            p.muted
        )?;
    }
    writeln!(out, "    </div></section>")?;
    open_section(
        out,
        p,
        "schedule",
        "",
        "Schedule",
        &format!("One full day of {}.", b.name),
    )?;
    writeln!(
        out,
        r#"        <ol class="mx-auto mt-12 max-w-3xl space-y-4">"#
    )?;
    for (time, title, who) in [
        ("09:00", "Doors open, coffee and pastries", "Main foyer"),
        (
            "10:00",
            "Opening keynote: where we go from here",
            "Amara Okafor",
        ),
        (
            "11:30",
            "Hands-on workshops (choose one of three)",
            "Rooms A–C",
        ),
        (
            "14:00",
            "Panel: lessons from the field",
            "Leo Martins, Sofia Berg, Ken Ito",
        ),
        ("17:00", "Closing talk and evening social", "Main hall"),
    ] {
        writeln!(
            out,
            r#"          <li class="flex gap-6 {} {} p-5"><span class="w-16 shrink-0 font-mono font-semibold {}">{time}</span><div><p class="font-semibold">{title}</p><p class="text-sm {}">{who}</p></div></li>"#,
            p.radius, p.card, p.accent, p.muted
        )?;
    }
    writeln!(out, "        </ol>")?;
    close_section(out)?;
    open_section(
        out,
        p,
        "speakers",
        p.alt,
        "Speakers",
        "People who have done the work, sharing what they learned.",
    )?;
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-8 sm:grid-cols-2 md:grid-cols-4">"#
    )?;
    for (initials, who, role) in [
        ("AO", "Amara Okafor", "Founder, Northlight"),
        ("LM", "Leo Martins", "Head of Design, Tidal"),
        ("SB", "Sofia Berg", "Researcher, Open Lab"),
        ("KI", "Ken Ito", "Engineer and author"),
    ] {
        writeln!(
            out,
            r#"          <div class="{} {} p-6 text-center"><div class="mx-auto flex h-20 w-20 items-center justify-center rounded-full bg-gradient-to-br from-pink-400 to-violet-500 text-2xl font-bold text-white">{initials}</div><h3 class="mt-4 text-lg {}">{who}</h3><p class="text-sm {}">{role}</p></div>"#,
            p.radius, p.card, p.heading, p.muted
        )?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)?;
    band(
        out,
        p,
        "register",
        "Reserve your seat",
        "Early-bird tickets are $49 until the end of the month, lunch included.",
        "Register now",
    )
}

pub(super) fn restaurant(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    open_section(
        out,
        p,
        "menu",
        p.alt,
        "On the menu",
        "Cooked from scratch with what is best this week.",
    )?;
    writeln!(
        out,
        r#"        <div class="mt-16 grid gap-12 md:grid-cols-2">"#
    )?;
    for (course, dishes) in [
        (
            "Starters",
            [
                ("Charred leeks", "hazelnut, brown butter, lemon", "$9"),
                ("Burrata", "blood orange, basil, olive oil", "$12"),
                ("Soup of the day", "with warm sourdough", "$8"),
            ],
        ),
        (
            "Mains",
            [
                ("Slow-roasted lamb", "white beans, salsa verde", "$26"),
                ("Wild mushroom risotto", "parmesan, thyme", "$21"),
                ("Market fish", "new potatoes, brown shrimp butter", "$24"),
            ],
        ),
    ] {
        writeln!(
            out,
            r#"          <div><h3 class="text-2xl {}">{course}</h3><ul class="mt-6 space-y-5">"#,
            p.heading
        )?;
        for (dish, notes, price) in dishes {
            writeln!(
                out,
                r#"            <li class="flex items-baseline justify-between gap-4 border-b border-dashed border-slate-400/40 pb-3"><div><p class="font-semibold">{dish}</p><p class="text-sm {}">{notes}</p></div><span class="font-semibold {}">{price}</span></li>"#,
                p.muted, p.accent
            )?;
        }
        writeln!(out, "          </ul></div>")?;
    }
    writeln!(out, "        </div>")?;
    close_section(out)?;
    open_section(
        out,
        p,
        "visit",
        "",
        &format!("Visit {}", b.name),
        "Walk-ins welcome; booking recommended at weekends.",
    )?;
    writeln!(
        out,
        r#"        <div class="mx-auto mt-12 grid max-w-4xl gap-8 md:grid-cols-2">"#
    )?;
    write!(
        out,
        r#"          <div class="{} {} p-8"><div class="flex items-center gap-3 {}">"#,
        p.radius, p.card, p.accent
    )?;
    icon(out, Icon::Clock, "h-6 w-6")?;
    writeln!(
        out,
        r#"<h3 class="text-xl {}">Opening hours</h3></div><dl class="mt-4 space-y-2 {}">"#,
        p.heading, p.muted
    )?;
    for (days, hours) in [
        ("Tuesday – Thursday", "12:00 – 22:00"),
        ("Friday – Saturday", "12:00 – 23:00"),
        ("Sunday", "12:00 – 17:00"),
        ("Monday", "Closed"),
    ] {
        writeln!(
            out,
            r#"            <div class="flex justify-between"><dt>{days}</dt><dd>{hours}</dd></div>"#
        )?;
    }
    write!(
        out,
        "          </dl></div>\n          <div class=\"{} {} p-8\"><div class=\"flex items-center gap-3 {}\">",
        p.radius, p.card, p.accent
    )?;
    icon(out, Icon::Pin, "h-6 w-6")?;
    writeln!(
        out,
        r#"<h3 class="text-xl {}">Find us</h3></div><p class="mt-4 {}">24 Orchard Lane, Old Town<br>Five minutes from the central station.</p><p class="mt-4"><a href="tel:+15550123456" class="font-semibold {} hover:underline">+1 555 012 3456</a></p></div>"#,
        p.heading, p.muted, p.accent
    )?;
    writeln!(out, "        </div>")?;
    close_section(out)?;
    band(
        out,
        p,
        "reserve",
        "Book your table",
        "Tables for up to eight; for larger parties or private dining, just ask.",
        "Reserve by email",
    )
}

pub(super) fn resume(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    open_section(
        out,
        p,
        "experience",
        p.alt,
        "Experience",
        &format!("Where {} has made a difference.", b.name),
    )?;
    writeln!(
        out,
        r#"        <ol class="mx-auto mt-12 max-w-3xl space-y-6">"#
    )?;
    for (years, role, org, text) in [
        (
            "2021 – now",
            "Lead",
            "Northwind Labs",
            "Lead a team of six; shipped a platform rewrite that cut costs by 40% and page load times in half.",
        ),
        (
            "2017 – 2021",
            "Senior specialist",
            "Harbour &amp; Co.",
            "Owned the customer-facing roadmap and mentored four juniors into senior roles.",
        ),
        (
            "2014 – 2017",
            "Specialist",
            "Brightside Studio",
            "Delivered thirty client projects on time, and introduced the studio’s review process.",
        ),
    ] {
        writeln!(
            out,
            r#"          <li class="{} {} p-6"><div class="flex flex-col justify-between gap-1 md:flex-row"><h3 class="text-xl {}">{role} · {org}</h3><span class="text-sm font-semibold {}">{years}</span></div><p class="mt-3 {}">{text}</p></li>"#,
            p.radius, p.card, p.heading, p.accent, p.muted
        )?;
    }
    writeln!(out, "        </ol>")?;
    close_section(out)?;
    open_section(
        out,
        p,
        "education",
        "",
        "Education",
        "Learning never really stops.",
    )?;
    write!(
        out,
        r#"        <div class="mx-auto mt-12 flex max-w-3xl items-center gap-4 {} {} p-6"><span class="flex h-12 w-12 shrink-0 items-center justify-center {} {}">"#,
        p.radius, p.card, p.radius, p.icon
    )?;
    icon(out, Icon::Star, "h-6 w-6")?;
    writeln!(
        out,
        r#"</span><div><h3 class="font-semibold">MSc, University of Edinburgh</h3><p class="text-sm {}">2012 – 2014 · Graduated with distinction</p></div></div>"#,
        p.muted
    )?;
    close_section(out)?;
    skills(
        out,
        p,
        &[
            "Leadership",
            "Planning",
            "Writing",
            "Data analysis",
            "Public speaking",
            "Mentoring",
        ],
    )?;
    band(
        out,
        p,
        "contact",
        &format!("Work with {}", b.name),
        "Open to new roles and interesting projects. References on request.",
        "Send an email",
    )
}

pub(super) fn footer(out: &mut String, b: &Brief, p: &Palette) -> fmt::Result {
    write!(
        out,
        r##"  <footer class="{footer}">
    <div class="mx-auto flex max-w-6xl flex-col items-center justify-between gap-4 px-6 py-10 text-sm md:flex-row">
      <p>© {name}. All rights reserved.</p>
      <div class="flex gap-6"><a href="#top" class="inline-flex items-center gap-1 hover:underline"><span class="material-symbols-outlined text-base" aria-hidden="true">arrow_upward</span>Back to top</a><a href="mailto:hello@example.com" class="inline-flex items-center gap-1 text-brand hover:underline"><span class="material-symbols-outlined text-base" aria-hidden="true">mail</span>hello@example.com</a></div>
    </div>
  </footer>
"##,
        footer = p.footer,
        name = b.name,
    )
}
