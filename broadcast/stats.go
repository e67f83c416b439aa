package broadcast

// Stats are a tree's counters since it started, and its sizes now.
type Stats struct {
	Delivered        uint64 // broadcasts received for the first time: delivered once each
	Duplicates       uint64 // payload copies received of broadcasts already seen
	Expired          uint64 // broadcasts received with ttl 0: delivered, not relayed
	Upgrades         uint64 // broadcasts relayed again because a copy with more ttl exists
	PayloadsSent     uint64 // payload frames sent: pushes, flooding links and graft answers
	PayloadsGrafted  uint64 // of PayloadsSent, those answering a graft
	PayloadBytes     uint64 // bytes of PayloadsSent, headers included, before sealing
	ControlBytes     uint64 // bytes of prune, ihave and graft frames sent, before sealing
	PrunesSent       uint64
	StaleFirsts      uint64 // duplicates not pruned: the first copy came on a link this node had pruned
	Regrafts         uint64 // prunes answered with a graft of id 0 (the link carried such a duplicate)
	Reparents        uint64 // pushed duplicates carrying more ttl than the kept copy: their link kept, the kept one's pruned
	PrunesReceived   uint64
	IHavesSent       uint64 // ihave frames sent
	IDsAnnounced     uint64 // ids in them
	IDsHeard         uint64 // ids announced to this node and taken
	IDsIgnored       uint64 // ids announced past IHaveRate, MaxMissing or MaxMissingPerLink
	GraftsSent       uint64 // ids grafted
	GraftRetries     uint64 // of those, ids grafted again from another link: no answer came in GraftRetry
	GraftsReceived   uint64 // ids grafted by peers
	GraftsUnanswered uint64 // of those, not cached, with no ttl to spare, or past GraftRate
	MissingExpired   uint64 // ids announced but never received within CacheAge
	Unsolicited      uint64 // control frames on links that do not speak trees: ignored

	EagerLinks int // links payloads are pushed on
	LazyLinks  int // links only ids are announced on
	FloodLinks int // links to peers that do not speak trees: always pushed on
	Cached     int // payloads kept to answer grafts
	// CachedBytes is what they count against Config.CacheBytes: their
	// frames and their bookkeeping.
	CachedBytes int
	Missing     int // ids announced and waited for
	Seen        int // ids remembered
}

// Add adds o's counters and sizes to s: the totals of several trees (a
// network's nodes). Sizes add up as counts across the trees.
func (s *Stats) Add(o Stats) {
	s.Delivered += o.Delivered
	s.Duplicates += o.Duplicates
	s.Expired += o.Expired
	s.Upgrades += o.Upgrades
	s.PayloadsSent += o.PayloadsSent
	s.PayloadsGrafted += o.PayloadsGrafted
	s.PayloadBytes += o.PayloadBytes
	s.ControlBytes += o.ControlBytes
	s.PrunesSent += o.PrunesSent
	s.PrunesReceived += o.PrunesReceived
	s.StaleFirsts += o.StaleFirsts
	s.Regrafts += o.Regrafts
	s.Reparents += o.Reparents
	s.IHavesSent += o.IHavesSent
	s.IDsAnnounced += o.IDsAnnounced
	s.IDsHeard += o.IDsHeard
	s.IDsIgnored += o.IDsIgnored
	s.GraftsSent += o.GraftsSent
	s.GraftRetries += o.GraftRetries
	s.GraftsReceived += o.GraftsReceived
	s.GraftsUnanswered += o.GraftsUnanswered
	s.MissingExpired += o.MissingExpired
	s.Unsolicited += o.Unsolicited
	s.EagerLinks += o.EagerLinks
	s.LazyLinks += o.LazyLinks
	s.FloodLinks += o.FloodLinks
	s.Cached += o.Cached
	s.CachedBytes += o.CachedBytes
	s.Missing += o.Missing
	s.Seen += o.Seen
}
