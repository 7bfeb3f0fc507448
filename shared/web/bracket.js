// DojoPool bracket renderer (issue 18): draws a `shared::bracket::View` into an element.
// Placeholder until the renderer lands.
