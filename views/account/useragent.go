package account

import "strings"

// agentBrowsers are recognised browsers, in the order they must be tried:
// many user agents name several (Edge and Opera also say Chrome, Chrome
// also says Safari).
var agentBrowsers = []struct{ marker, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"}, {"Vivaldi/", "Vivaldi"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"Chromium/", "Chromium"}, {"CriOS/", "Chrome"}, {"HeadlessChrome/", "Headless Chrome"}, {"Chrome/", "Chrome"},
	{"Safari/", "Safari"},
	{"curl/", "curl"}, {"Wget/", "Wget"},
}

// agentSystems are recognised operating systems, in the same spirit
// (iPads say Mac OS X, Android says Linux).
var agentSystems = []struct{ marker, name string }{
	{"Windows", "Windows"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"},
	{"CrOS", "ChromeOS"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
}

// Device guesses the browser and operating system of a user agent string
// for the sessions list; either is "" when not recognised. It is a guess
// for people to recognise their own devices, never a security decision.
func Device(ua string) (browser, os string) {
	for _, b := range agentBrowsers {
		if strings.Contains(ua, b.marker) {
			browser = b.name
			break
		}
	}
	for _, s := range agentSystems {
		if strings.Contains(ua, s.marker) {
			os = s.name
			break
		}
	}
	return browser, os
}
