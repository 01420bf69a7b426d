// Package webtest tests qlsqlite's monitoring pages in a real browser:
// headless Chromium driven by chromedp. It is a module of its own so that
// chromedp never enters the root module's dependency graph.
//
//	cd webtest && go test ./...
//
// The test needs Chromium (Debian's "chromium"; CHROMIUM names another
// binary) and fails without it. With QLSQLITE_SCREENSHOTS=DIR it keeps a
// screenshot of each page in DIR (the README's come from
// QLSQLITE_SCREENSHOTS=../docs).
package webtest
