//! The Tailwind classes that make up each theme.
//!
//! Sections are written once, against the roles below (a card, a primary button, …); a theme is
//! just the classes for each role. That keeps the sections readable and every theme complete.

use crate::domain::Theme;

/// Tailwind (v3) classes for each visual role of a page.
#[derive(Debug, Clone, Copy)]
pub(super) struct Palette {
    /// `<body>`: background, text colour, font smoothing.
    pub body: &'static str,
    /// Headings: weight, colour, and the font family of the theme.
    pub heading: &'static str,
    /// The heading font family alone, for headings on coloured bands.
    pub display: &'static str,
    /// Secondary text.
    pub muted: &'static str,
    /// Eyebrows, links and small highlights.
    pub accent: &'static str,
    /// The sticky navigation bar.
    pub nav: &'static str,
    /// The hero's background.
    pub hero: &'static str,
    /// The hero's headline colour (often a gradient clipped to the text).
    pub headline: &'static str,
    pub button: &'static str,
    pub ghost: &'static str,
    pub card: &'static str,
    /// The tile behind an icon.
    pub icon: &'static str,
    /// Every other section's background, to separate sections.
    pub alt: &'static str,
    /// Corner rounding of cards, buttons and tiles.
    pub radius: &'static str,
    /// Tags and skill chips.
    pub chip: &'static str,
    /// The call-to-action band: a gradient with its own text colour.
    pub band: &'static str,
    pub footer: &'static str,
    /// The theme's brand colour, configured as `brand` in the page's `tailwind.config`.
    pub brand: &'static str,
}

impl Palette {
    pub fn of(theme: Theme) -> Self {
        match theme {
            Theme::Modern => MODERN,
            Theme::Minimal => MINIMAL,
            Theme::Dark => DARK,
            Theme::Playful => PLAYFUL,
            Theme::Corporate => CORPORATE,
            Theme::Elegant => ELEGANT,
        }
    }
}

const MODERN: Palette = Palette {
    body: "bg-white text-slate-700 antialiased",
    heading: "font-bold tracking-tight text-slate-900",
    display: "font-bold tracking-tight",
    muted: "text-slate-600",
    accent: "text-indigo-600",
    nav: "bg-white/80 backdrop-blur border-b border-slate-200",
    hero: "bg-gradient-to-br from-indigo-50 via-white to-violet-50",
    headline: "bg-gradient-to-r from-indigo-600 to-violet-600 bg-clip-text text-transparent",
    button: "bg-indigo-600 text-white shadow-lg shadow-indigo-600/20 hover:bg-indigo-700",
    ghost: "border border-slate-300 text-slate-700 hover:border-indigo-600 hover:text-indigo-600",
    card: "bg-white border border-slate-200 shadow-sm transition hover:-translate-y-1 hover:shadow-xl",
    icon: "bg-indigo-100 text-indigo-600",
    alt: "bg-slate-50",
    radius: "rounded-2xl",
    chip: "bg-indigo-50 text-indigo-700",
    band: "bg-gradient-to-r from-indigo-600 to-violet-600 text-white",
    footer: "bg-slate-900 text-slate-400",
    brand: "#4f46e5",
};

const MINIMAL: Palette = Palette {
    body: "bg-white text-neutral-700 antialiased",
    heading: "font-semibold tracking-tight text-black",
    display: "font-semibold tracking-tight",
    muted: "text-neutral-500",
    accent: "text-black underline decoration-2 underline-offset-4",
    nav: "bg-white border-b border-neutral-200",
    hero: "bg-gradient-to-b from-white to-neutral-100",
    headline: "text-black",
    button: "bg-black text-white hover:bg-neutral-700",
    ghost: "border border-black text-black hover:bg-black hover:text-white",
    card: "bg-white border border-neutral-200 transition hover:border-black",
    icon: "border border-black text-black",
    alt: "bg-neutral-50",
    radius: "rounded-none",
    chip: "border border-neutral-300 text-neutral-700",
    band: "bg-gradient-to-r from-black to-neutral-800 text-white",
    footer: "bg-white border-t border-neutral-200 text-neutral-500",
    brand: "#171717",
};

const DARK: Palette = Palette {
    body: "bg-slate-900 text-slate-300 antialiased",
    heading: "font-bold tracking-tight text-white",
    display: "font-bold tracking-tight",
    muted: "text-slate-400",
    accent: "text-cyan-400",
    nav: "bg-slate-900/80 backdrop-blur border-b border-slate-800",
    hero: "bg-gradient-to-b from-slate-900 via-slate-900 to-violet-950",
    headline: "bg-gradient-to-r from-cyan-400 to-violet-400 bg-clip-text text-transparent",
    button: "bg-cyan-400 text-slate-900 shadow-lg shadow-cyan-500/20 hover:bg-cyan-300",
    ghost: "border border-slate-700 text-slate-200 hover:border-violet-400 hover:text-violet-300",
    card: "bg-slate-800/60 border border-slate-700 transition hover:border-cyan-400/60",
    icon: "bg-violet-500/10 text-violet-300",
    alt: "bg-slate-950",
    radius: "rounded-2xl",
    chip: "bg-cyan-400/10 text-cyan-300",
    band: "bg-gradient-to-r from-cyan-500 to-violet-600 text-white",
    footer: "bg-slate-950 border-t border-slate-800 text-slate-500",
    brand: "#22d3ee",
};

const PLAYFUL: Palette = Palette {
    body: "bg-amber-50 text-slate-700 antialiased",
    heading: "font-extrabold text-pink-600",
    display: "font-extrabold",
    muted: "text-slate-600",
    accent: "text-amber-600",
    nav: "bg-white/90 backdrop-blur border-b-4 border-pink-200",
    hero: "bg-gradient-to-br from-pink-100 via-amber-50 to-yellow-100",
    headline: "bg-gradient-to-r from-pink-500 to-amber-500 bg-clip-text text-transparent",
    button: "bg-pink-500 text-white shadow-lg shadow-pink-500/30 transition hover:scale-105 hover:bg-pink-600",
    ghost: "border-2 border-amber-400 text-amber-700 hover:bg-amber-100",
    card: "bg-white border-2 border-pink-100 shadow-md transition hover:-rotate-1 hover:shadow-xl",
    icon: "bg-amber-100 text-pink-500",
    alt: "bg-white",
    radius: "rounded-3xl",
    chip: "bg-pink-100 text-pink-700",
    band: "bg-gradient-to-r from-pink-500 to-amber-400 text-white",
    footer: "bg-pink-600 text-pink-100",
    brand: "#d97706",
};

const CORPORATE: Palette = Palette {
    body: "bg-white text-slate-700 antialiased",
    heading: "font-bold text-blue-950",
    display: "font-bold",
    muted: "text-slate-600",
    accent: "text-blue-700",
    nav: "bg-white border-b border-slate-200 shadow-sm",
    hero: "bg-gradient-to-b from-blue-50 to-white",
    headline: "text-blue-950",
    button: "bg-blue-700 text-white hover:bg-blue-800",
    ghost: "border border-blue-700 text-blue-700 hover:bg-blue-50",
    card: "bg-white border border-slate-200 shadow-sm transition hover:shadow-md",
    icon: "bg-blue-50 text-blue-700",
    alt: "bg-slate-50",
    radius: "rounded-md",
    chip: "bg-blue-50 text-blue-800",
    band: "bg-gradient-to-r from-blue-950 to-blue-700 text-white",
    footer: "bg-blue-950 text-blue-200",
    brand: "#1d4ed8",
};

const ELEGANT: Palette = Palette {
    body: "bg-stone-50 text-stone-700 antialiased",
    heading: "font-serif text-stone-900",
    display: "font-serif",
    muted: "text-stone-500",
    accent: "text-amber-700",
    nav: "bg-stone-50/90 backdrop-blur border-b border-stone-200",
    hero: "bg-gradient-to-b from-stone-100 to-stone-50",
    headline: "font-serif italic text-stone-900",
    button: "bg-stone-900 text-stone-50 hover:bg-amber-800",
    ghost: "border border-stone-400 text-stone-800 hover:border-amber-700 hover:text-amber-800",
    card: "bg-white border border-stone-200 transition hover:shadow-lg",
    icon: "bg-amber-50 text-amber-700",
    alt: "bg-white",
    radius: "rounded-lg",
    chip: "bg-stone-200 text-stone-700",
    band: "bg-gradient-to-r from-stone-900 to-amber-900 text-stone-50",
    footer: "bg-stone-900 text-stone-400",
    brand: "#b45309",
};
