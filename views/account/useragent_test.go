package account

import "testing"

func TestDevice(t *testing.T) {
	cases := []struct{ name, ua, browser, os string }{
		{"firefox on linux", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox", "Linux"},
		{"chrome on windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome", "Windows"},
		{"edge, which also says chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge", "Windows"},
		{"safari on macos", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari", "macOS"},
		{"safari on iphone, which says mac os x", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari", "iOS"},
		{"chrome on android, which says linux", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome", "Android"},
		{"firefox on iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15", "Firefox", "iOS"},
		{"opera", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/112.0.0.0", "Opera", "Linux"},
		{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36", "Headless Chrome", "Linux"},
		{"curl", "curl/8.5.0", "curl", ""},
		{"unknown", "SomeBot/1.0", "", ""},
		{"empty", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, os := Device(tc.ua)
			if b != tc.browser || os != tc.os {
				t.Errorf("Device = %q, %q; want %q, %q", b, os, tc.browser, tc.os)
			}
		})
	}
}

func TestRawAgent(t *testing.T) {
	short := "SomeBot/1.0"
	if got := rawAgent(short); got != short {
		t.Errorf("short agent changed: %q", got)
	}
	long := "Ünïcödé/1.0 " + "0123456789012345678901234567890123456789012345678901234567890123456789"
	got := []rune(rawAgent(long))
	if len(got) != rawAgentMax || got[len(got)-1] != '…' || string(got[:4]) != "Ünïc" {
		t.Errorf("long agent cut to %q (%d characters), want %d ending in an ellipsis", string(got), len(got), rawAgentMax)
	}
}
