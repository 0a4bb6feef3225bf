// Package web serves ferry's activity page: one embedded HTML page with its
// script and stylesheet, which polls the control API and shows jobs,
// progress, conflicts and a live rate graph.
//
// Caveats: the page has no data of its own and is served without a token;
// when the API needs one, open the page as http://HOST:PORT/#token=TOKEN
// (the fragment never leaves the browser).
package web
