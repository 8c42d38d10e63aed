use super::*;

#[test]
fn explore() {
    let s = Sanitizer::new(Styles::Cdn);
    for raw in [
        "```html\n<!DOCTYPE html><html lang=fr><head><title>a</title><script>x</script></head><body class=\"bg-x md:flex\"><h1>Hi</h1><svg viewBox=\"0 0 24 24\"><defs><linearGradient id=g gradientUnits=userSpaceOnUse><stop offset=0 stop-color=red /></linearGradient></defs><path d=\"M0\" fill=\"url(#g)\"/><title>t</title></svg><a href=\"#x\" target=_blank>a</a><a href=/x>b</a><pre>\n\nx</pre><p style=\"color: red; background-image: url(https://x/y)\">s</p></body></html>\n```",
    ] {
        let out = s.sanitize(raw);
        eprintln!("{}\n---- title={:?}", out.as_str(), out.title());
        let again = s.sanitize(out.as_str());
        assert_eq!(again, out);
    }
}
