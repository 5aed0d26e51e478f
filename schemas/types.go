package schemas

import "time"

// OrderRequested asks orderflow to place an order (topic orders.requests and the retry tiers).
type OrderRequested struct {
	OrderID        string
	Attempt        int
	Provider       string
	Buyer          Buyer
	Items          []Item
	Currency       string
	PaymentRef     string // secret: never log it
	ShopperIP      string
	RequestedAt    time.Time
	Deadline       time.Time // zero = none
	ReplacesCartID string
	ReplayID       string
	ReplayCount    int
	Attributes     map[string]string
	// Billing is the billing address; nil = the buyer's address.
	Billing *Buyer
}

// Buyer is who the order ships to. Personal data: redact before logging (see Redacted).
type Buyer struct {
	FirstName, LastName, Email, Phone string
	Address1, Address2, City          string
	ProvinceCode, PostalCode          string
	CountryCode                       string
}

// Item is one order line.
type Item struct {
	Merchant   string
	ProductID  string
	Quantity   int
	PriceCents int64
	// Name and SKUGroupID describe an item that is not in a provider catalogue (Digital River
	// productDetails); an empty SKUGroupID means ProductID is a catalogue id.
	Name       string
	SKUGroupID string
	// CountryOfOrigin is where an uncatalogued item was made (Digital River productDetails
	// countryOfOrigin, required there); empty = the client's configured default.
	CountryOfOrigin string
}

// OrderStatus is one state change, keyed by order id. EventID is deterministic.
type OrderStatus struct {
	EventID         string
	OrderID         string
	Attempt         int
	Provider        string
	State           string
	Terminal        bool
	CartID          string
	Merchant        string
	MerchantOrderID string
	Code            string
	Action          string
	Message         string
	// RedirectURL is set on action_required: where the customer completes the action.
	RedirectURL string
	At          time.Time
}

// Attempt is one failed provider call in an order's history.
type Attempt struct {
	At         time.Time
	Attempt    int
	Phase      string
	Code       string
	Message    string
	Retryable  *bool
	HTTPStatus int
	RequestID  string
	CartID     string
	Latency    time.Duration
}

// OrderFailure is a classified failure, for the reconciler.
type OrderFailure struct {
	EventID         string
	OrderID         string
	Attempt         int
	Provider        string
	Phase           string
	Class           string
	Code            string
	Message         string
	Retryable       *bool
	HTTPStatus      int
	RequestID       string
	CartID          string
	Merchant        string
	MerchantOrderID string
	Action          string
	FailedItems     []Item
	Attempts        []Attempt
	Request         OrderRequested
	At              time.Time
}

// DeadLetter is an order, or an undecodable record, that needs a person.
type DeadLetter struct {
	DeadLetterID    string
	OrderID         string
	Attempt         int
	Provider        string
	Reason          string
	Action          string
	Rule            string
	Code            string
	Retryable       *bool
	CartID          string
	Merchant        string // the failed merchant order; "" when the whole cart failed
	Phase           string // cart, submission or placement
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	RawKey          []byte
	RawValue        []byte
	Request         *OrderRequested
	FailedItems     []Item // what a replay must place; empty means every item of Request
	Attempts        []Attempt
	ReplayCount     int
	ReplayID        string
	TraceContext    map[string]string
	At              time.Time
	// RawDigest describes RawKey and RawValue when they were left out to fit the topic's
	// record limit (see Shrink); nil otherwise.
	RawDigest *RawDigest
	// Omitted lists what Shrink left out, in order; empty for a complete dead letter.
	Omitted []string
}

// Tracking is a submitted cart whose placement the tracker polls (internal topic).
type Tracking struct {
	OrderID        string
	Attempt        int
	Provider       string
	CartID         string
	SubmittedAt    time.Time
	Polls          int
	Resubmits      int
	Refusals       int
	Chain          int64
	Announced      bool
	OutcomeUnknown bool
	Request        OrderRequested
	// ActionWaits are the merchant orders of the cart that waited or wait for the customer.
	ActionWaits []ActionWait
}

// ActionWait is a merchant order waiting for the customer to complete a required action (a
// 3-D Secure challenge), as the tracker saw it.
type ActionWait struct {
	Merchant        string
	MerchantOrderID string
	// RedirectURL is the URL last announced on the status topic (action_required).
	RedirectURL string
	// Since is when the wait was first seen: the action deadline counts from it.
	Since time.Time
	// LastSeen is the last poll that saw it waiting: the stuck clock restarts from it.
	LastSeen time.Time
	// Waiting: the last readable poll saw it waiting.
	Waiting bool
}

// ReplayAudit is what `orderflow dlq replay` decided and did for one dead letter (topic
// orders.dlq.replays). It never holds a payment reference or personal data.
type ReplayAudit struct {
	AuditID       string
	ReplayID      string
	DeadLetterID  string
	OrderID       string
	Provider      string
	Merchant      string
	Action        string
	Label         string
	Result        string
	Reason        string
	SourceAttempt int
	Attempt       int
	ReplayCount   int
	CartID        string
	PatchedFields []string
	Forced        bool
	Operator      string
	At            time.Time
}
