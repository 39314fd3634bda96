package order

import "errors"

// ErrBadMessage wraps every reason a message cannot be turned into an order.
// Its text never includes the message's personal content.
var ErrBadMessage = errors.New("bad order message")

// The stream message is the sealed order, version 2 (sealed.go,
// docs/architecture.md). Version 1 carried the personal part in clear and
// is no longer written or read: a version 1 message is refused as
// ErrBadMessage (the batcher dead-letters it).
