package qlsqlite

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names of group commit.
const (
	metricGroupSize      = "qlsqlite.group_commit.size"
	metricGroupQueueTime = "qlsqlite.group_commit.queue_time"
)

// groupSizeBuckets are the bucket boundaries of qlsqlite.group_commit.size.
var groupSizeBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

// GroupCommitStats are the statistics of group commit (see
// [WithGroupCommit]), part of [DatabaseStats].
type GroupCommitStats struct {
	// Enabled says group commit is on; the rest is zero when it is off.
	Enabled bool
	// MaxStatements and MaxTime are the limits of a group.
	MaxStatements int
	MaxTime       time.Duration
	// Groups counts the groups run: each one transaction, or one statement
	// that ran alone in autocommit because nobody else was waiting.
	// Statements counts the statements they ran (each one caller's), Alone
	// those that ran alone.
	Groups, Statements, Alone uint64
	// MeanSize, P50Size, P99Size and MaxSize describe the statements per
	// group (within 2%).
	MeanSize                  float64
	P50Size, P99Size, MaxSize int
	// Queued is the time callers waited from joining a group (or the queue
	// for one) until their statement started: in total, on average, and
	// its percentiles (within 2%). It is part of each call's
	// [QueryStats.Waited].
	Queued, MeanQueued, P50Queued, P95Queued, P99Queued, MaxQueued time.Duration
	// Withdrawn counts callers that left because their context ended
	// before their statement started: nothing of theirs was applied.
	Withdrawn uint64
	// Failed counts statements that failed on their own (a constraint,
	// their own deadline), the rest of their group going on.
	Failed uint64
	// Replays counts the times a statement's failure made SQLite roll a
	// group's transaction back and the statements that had succeeded ran
	// again in a new one.
	Replays uint64
	// FailedCommits counts the groups whose BEGIN or COMMIT failed: every
	// statement of such a group got that error.
	FailedCommits uint64
}

// groupStats are a committer's statistics. The leader records a group once;
// no lock is taken per statement.
type groupStats struct {
	mu                                  sync.Mutex
	groups, statements, alone           uint64
	withdrawn, failed, replays, commits uint64 // commits: failed BEGINs and COMMITs
	maxSize                             int
	queued, maxQueued                   time.Duration
	sizes, waits                        histogram // sizes as durations of n ns
}

// record counts a group of the statements in ended.
func (s *groupStats) record(ended []*groupReq) {
	if len(ended) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups++
	s.statements += uint64(len(ended))
	s.maxSize = max(s.maxSize, len(ended))
	s.sizes.record(time.Duration(len(ended)))
	for _, r := range ended {
		if _, ok := r.err.(*groupError); r.err != nil && !ok {
			s.failed++ // on its own
		}
		q := max(r.started.Sub(r.joined), 0)
		s.queued += q
		s.maxQueued = max(s.maxQueued, q)
		s.waits.record(q)
	}
}

func (s *groupStats) add(n *uint64) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

func (s *groupStats) ranAlone()     { s.add(&s.alone) }
func (s *groupStats) withdrew()     { s.add(&s.withdrawn) }
func (s *groupStats) replayed()     { s.add(&s.replays) }
func (s *groupStats) commitFailed() { s.add(&s.commits) }

// snapshot returns the statistics of group commit; a nil committer (group
// commit off) has none.
func (g *groupCommitter) snapshot() GroupCommitStats {
	if g == nil {
		return GroupCommitStats{}
	}
	s := &g.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	out := GroupCommitStats{
		Enabled:       true,
		MaxStatements: g.limits.MaxStatements,
		MaxTime:       g.limits.MaxTime,
		Groups:        s.groups,
		Statements:    s.statements,
		Alone:         s.alone,
		MaxSize:       s.maxSize,
		P50Size:       min(int(s.sizes.quantile(0.50)), s.maxSize),
		P99Size:       min(int(s.sizes.quantile(0.99)), s.maxSize),
		Queued:        s.queued,
		MaxQueued:     s.maxQueued,
		P50Queued:     min(s.waits.quantile(0.50), s.maxQueued),
		P95Queued:     min(s.waits.quantile(0.95), s.maxQueued),
		P99Queued:     min(s.waits.quantile(0.99), s.maxQueued),
		Withdrawn:     s.withdrawn,
		Failed:        s.failed,
		Replays:       s.replays,
		FailedCommits: s.commits,
	}
	if s.groups > 0 {
		out.MeanSize = float64(s.statements) / float64(s.groups)
	}
	if s.statements > 0 {
		out.MeanQueued = s.queued / time.Duration(s.statements)
	}
	return out
}

// resetStats forgets the statistics gathered so far ([ResetStats]).
func (g *groupCommitter) resetStats() {
	if g == nil {
		return
	}
	s := &g.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups, s.statements, s.alone = 0, 0, 0
	s.withdrawn, s.failed, s.replays, s.commits = 0, 0, 0, 0
	s.maxSize, s.queued, s.maxQueued = 0, 0, 0
	s.sizes.reset()
	s.waits.reset()
}

// groupMetrics are the OpenTelemetry instruments of group commit:
// qlsqlite.group_commit.size (statements per group) and
// qlsqlite.group_commit.queue_time (each statement's time queued).
type groupMetrics struct {
	tel       *telemetry
	size      metric.Int64Histogram   // nil when metrics are off
	queueTime metric.Float64Histogram // nil when metrics are off
	set       metric.MeasurementOption
}

func newGroupMetrics(tel *telemetry) groupMetrics {
	m := groupMetrics{tel: tel}
	if tel == nil || tel.meter == nil {
		return m
	}
	size, err1 := tel.meter.Int64Histogram(metricGroupSize,
		metric.WithDescription("Statements committed together by qlsqlite's group commit, per group."),
		metric.WithUnit("{statement}"),
		metric.WithExplicitBucketBoundaries(groupSizeBuckets...))
	queueTime, err2 := tel.meter.Float64Histogram(metricGroupQueueTime,
		metric.WithDescription("Time a statement waited in qlsqlite's group commit before it started."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err := errors.Join(err1, err2); err != nil {
		otel.Handle(err)
		return m
	}
	m.size, m.queueTime = size, queueTime
	m.set = metric.WithAttributeSet(attribute.NewSet(tel.base...))
	return m
}

// record records a group of the statements in ended.
func (m *groupMetrics) record(ended []*groupReq) {
	if m.size == nil || len(ended) == 0 || !m.tel.metering() {
		return
	}
	ctx := context.Background()
	m.size.Record(ctx, int64(len(ended)), m.set)
	for _, r := range ended {
		m.queueTime.Record(ctx, max(r.started.Sub(r.joined), 0).Seconds(), m.set)
	}
}
