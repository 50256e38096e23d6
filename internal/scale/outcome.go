package scale

// The outcome rule: how the tests of one ATT&CK technique amount to one
// colour of the scale. The report's heatmap, the Navigator layer and the
// matrix's mission overlay all colour a technique this way, so that one
// mission never shows two different verdicts for the same technique.
//
// A test counts when it was executed or reviewed and has a detection
// level (Counts); among those, the technique takes the BEST level: the
// highest score, and on equal scores the level placed first on the scale
// (Outranks). The best answers "did anything we tried on this technique get
// seen": one detected procedure is what a defender can build on; the
// misses stay visible in each place's list of tests.

// Counts reports whether a test in state (a mission test state's name)
// with or without a detection level counts towards its techniques'
// outcome: executed or reviewed, and rated.
func Counts(state string, rated bool) bool {
	return rated && (state == "executed" || state == "reviewed")
}

// Outranks reports whether a level (score, position on the scale) is a
// better outcome than the best one so far (bestScore, bestPosition): a
// higher score, or the same score placed first on the scale.
func Outranks(score, position, bestScore, bestPosition int) bool {
	return score > bestScore || score == bestScore && position < bestPosition
}
