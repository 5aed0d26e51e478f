package ryefake

import (
	"encoding/json"
	"fmt"
	"net/url"

	graphql "github.com/graph-gophers/graphql-go"
)

// Resolver types of ryeschema.SDL. graphql-go resolves every object field from an exported
// struct field of the same name (graphql.UseFieldResolvers), and every union or interface
// through To<Type>() methods; it checks at parse time that every reachable field has one.
// Nullable fields are pointers; a nullable list is a pointer to a slice.

// URL is the schema's URL scalar: "An absolute URL" (SDK-2024). It implements graphql-go's
// custom scalar interface (decode.Unmarshaler) and marshals as a JSON string.
type URL string

// ImplementsGraphQLType reports that URL implements the schema scalar "URL".
func (URL) ImplementsGraphQLType(name string) bool { return name == "URL" }

// UnmarshalGraphQL accepts an absolute URL given as a string.
func (u *URL) UnmarshalGraphQL(input any) error {
	s, ok := input.(string)
	if !ok {
		return fmt.Errorf("URL must be a string, got %T", input)
	}
	p, err := url.Parse(s)
	if err != nil || !p.IsAbs() || p.Host == "" {
		return fmt.Errorf("URL %q is not an absolute URL", s)
	}
	*u = URL(s)
	return nil
}

// MarshalJSON encodes the URL as a JSON string.
func (u URL) MarshalJSON() ([]byte, error) { return json.Marshal(string(u)) }

func gqlID(s string) graphql.ID { return graphql.ID(s) }

// ---- shared ----

type priceRes struct {
	Currency     string // Currency enum
	DisplayValue string
	Value        int32
}

func usd(cents int64) *priceRes {
	return &priceRes{Value: int32(cents), Currency: "USD", DisplayValue: displayUSD(cents)}
}

type codeMessage struct {
	Code    string
	Message string
}

type attributeRes struct{ Key, Value string }

// ---- createCart / getCart ----

type cartResponseRes struct {
	Cart   *cartRes
	Errors []*cartErrorRes
}

// cartErrorRes is CartError and SubmitCartResultError (same shape, different code enums).
type cartErrorRes struct {
	Code    string
	Details *cartErrorDetailsRes
	Message string
}

func cartError(code, msg string) *cartErrorRes { return &cartErrorRes{Code: code, Message: msg} }

// cartErrorDetailsRes is the CartErrorDetails union.
type cartErrorDetailsRes struct{ address *addressValidationRes }

func (d *cartErrorDetailsRes) ToAddressValidationErrorDetails() (*addressValidationRes, bool) {
	return d.address, d.address != nil
}

type addressValidationRes struct{ SuggestedValue string }

type cartRes struct {
	ID                 graphql.ID
	CreatedAt          graphql.Time
	BuyerIdentity      *buyerIdentity
	Cost               *cartCostRes
	IsShippingRequired *bool
	Stores             []*storeRes
	Attributes         *[]*attributeRes
}

type cartCostRes struct {
	IsEstimated bool
	Margin      *priceRes
	Shipping    *priceRes
	Subtotal    *priceRes
	Tax         *priceRes
	Total       *priceRes
}

// storeRes is the Store union.
type storeRes struct {
	amazon  *amazonStoreRes
	shopify *shopifyStoreRes
}

func (s *storeRes) ToAmazonStore() (*amazonStoreRes, bool)   { return s.amazon, s.amazon != nil }
func (s *storeRes) ToShopifyStore() (*shopifyStoreRes, bool) { return s.shopify, s.shopify != nil }

type amazonStoreRes struct {
	CartLines          []*amazonCartLineRes
	Errors             []*amazonStoreErrorRes
	IsShippingRequired bool
	IsSubmitted        bool
	Offer              *amazonOfferRes
	RequestID          string
	OrderID            string
	ShipsToCountries   *[]string
	Store              string
}

type shopifyStoreRes struct {
	CartLines          []*shopifyCartLineRes
	Errors             []*shopifyStoreErrorRes
	IsShippingRequired bool
	IsSubmitted        bool
	Offer              *shopifyOfferRes
	RequestID          string
	OrderID            string
	ShipsToCountries   *[]string
	Store              string
}

type amazonCartLineRes struct {
	Product  *amazonProductRes
	Quantity int32
}

type shopifyCartLineRes struct {
	Quantity int32
	Variant  *shopifyVariantRes
}

type amazonProductRes struct {
	ASIN        graphql.ID
	Description string
	ID          graphql.ID
	Images      []*imageRes
	IsAvailable bool
	Marketplace string
	Price       *priceRes
	Tags        []string
	Title       string
	URL         URL
	Variants    []*variantRes
	Vendor      string
}

// imageRes is the Image interface: its own field (url) and the conversions.
type imageRes struct {
	amazon  *amazonImageRes
	shopify *shopifyImageRes
}

func (i *imageRes) URL() URL {
	if i.amazon != nil {
		return i.amazon.URL
	}
	return i.shopify.URL
}
func (i *imageRes) ToAmazonImage() (*amazonImageRes, bool)   { return i.amazon, i.amazon != nil }
func (i *imageRes) ToShopifyImage() (*shopifyImageRes, bool) { return i.shopify, i.shopify != nil }

type amazonImageRes struct {
	Height, Position, Width *int32
	URL                     URL
}

type shopifyImageRes struct {
	CreatedAt  graphql.Time
	Height     int32
	ID         graphql.ID
	Position   int32
	UpdatedAt  graphql.Time
	URL        URL
	VariantIDs []graphql.ID
	Width      int32
}

// variantRes is the Variant interface: its own fields (image, title) and the conversions.
type variantRes struct {
	amazon  *amazonVariantRes
	shopify *shopifyVariantRes
}

func (v *variantRes) Image() *imageRes {
	if v.amazon != nil {
		return v.amazon.Image
	}
	return v.shopify.Image
}

func (v *variantRes) Title() string {
	if v.amazon != nil {
		return v.amazon.Title
	}
	return v.shopify.Title
}
func (v *variantRes) ToAmazonVariant() (*amazonVariantRes, bool) { return v.amazon, v.amazon != nil }
func (v *variantRes) ToShopifyVariant() (*shopifyVariantRes, bool) {
	return v.shopify, v.shopify != nil
}

type amazonVariantRes struct {
	Dimensions []*dimensionRes
	ID         graphql.ID
	Image      *imageRes
	Title      string
	URL        URL
}

type dimensionRes struct{ Name, Value string }

type shopifyVariantRes struct {
	SKU                string
	CompareAtPrice     string
	ID                 graphql.ID
	Image              *imageRes
	IsAvailable        bool
	IsShippingRequired bool
	IsTaxable          bool
	Name               string
	Option1            *string
	Option2            *string
	Option3            *string
	Price              string
	PriceCents         int32
	QuantityAvailable  *int32
	Title              string
	Weight             int32
}

type amazonStoreErrorRes struct {
	Code    string
	Details *amazonStoreErrorDetailsRes
	Message string
}

type amazonStoreErrorDetailsRes struct{ ProductIds *[]string }

type shopifyStoreErrorRes struct {
	Code    string
	Details *shopifyStoreErrorDetailsRes
	Message string
}

type shopifyStoreErrorDetailsRes struct{ VariantIds *[]*string }

type amazonOfferRes struct {
	Errors                 []*amazonOfferErrorRes
	Margin                 *priceRes
	NotAvailableIds        []string
	SelectedShippingMethod *shippingMethodRes
	ShippingMethods        []*shippingMethodRes
	Subtotal               *priceRes
}

type amazonOfferErrorRes struct {
	Code    string
	Details *amazonOfferErrorDetailsRes
	Message string
}

type amazonOfferErrorDetailsRes struct{ ProductIds *[]string }

type shopifyOfferRes struct {
	Errors                 []*shopifyOfferErrorRes
	Margin                 *priceRes
	NotAvailableIds        []string
	SelectedShippingMethod *shippingMethodRes
	ShippingMethods        []*shippingMethodRes
	Subtotal               *priceRes
}

type shopifyOfferErrorRes struct {
	Code    string
	Details *shopifyOfferErrorDetailsRes
	Message string
}

type shopifyOfferErrorDetailsRes struct{ VariantIds *[]string }

type shippingMethodRes struct {
	ID    graphql.ID
	Label string
	Price *priceRes
	Taxes *priceRes
	Total *priceRes
}

// ---- submitCart ----

type submitCartResultRes struct {
	Cart   *submitCartDataRes
	Errors []*cartErrorRes
}

type submitCartDataRes struct {
	ID     graphql.ID
	Stores []*submitStoreRes
}

type submitStoreRes struct {
	Errors      []*codeMessage
	IsSubmitted bool
	RequestID   graphql.ID
	OrderID     graphql.ID
	Status      *string
	Store       *storeRes
}

// ---- checkoutByCartID / orderByID ----

type checkoutRes struct {
	Cart   *cartRes
	Orders []*orderRes
	Status string
}

type orderRes struct {
	ID                  graphql.ID
	CartID              graphql.ID
	Cart                *cartRes
	Status              string
	RequiredActions     []*requiredActionRes
	Events              []*eventRes
	Shipments           []*shipmentRes
	Marketplace         string
	MarketplaceOrderIds []string
	CreatedAt           graphql.Time
}

// requiredActionRes is the OrderRequiredAction union.
type requiredActionRes struct{ challenge *paymentChallengeRes }

func (a *requiredActionRes) ToCompletePaymentChallenge() (*paymentChallengeRes, bool) {
	return a.challenge, a.challenge != nil
}

type paymentChallengeRes struct{ RedirectURL URL }

type shipmentRes struct {
	CarrierName           string
	CarrierTrackingNumber string
	CarrierTrackingUrl    *URL // named after the schema field carrierTrackingUrl
}

// eventRes resolves the OrderEvent interface and its 12 implementations; the To* methods
// tell graphql-go which concrete type an event is. The fields are the union of the
// implementations' fields (all but id and createdAt exist on some implementations only).
type eventRes struct {
	typename   string
	ID         graphql.ID
	CreatedAt  graphql.Time
	Reason     string
	ReasonCode string
	Retryable  *bool
	Amount     *priceRes
}

func (e *eventRes) as(t string) (*eventRes, bool) { return e, e.typename == t }

func (e *eventRes) ToOrderSubmissionStartedOrderEvent() (*eventRes, bool)   { return e.as(evStarted) }
func (e *eventRes) ToOrderSubmissionSucceededOrderEvent() (*eventRes, bool) { return e.as(evSucceeded) }
func (e *eventRes) ToOrderPlacedOrderEvent() (*eventRes, bool)              { return e.as(evPlaced) }
func (e *eventRes) ToOrderFailedOrderEvent() (*eventRes, bool)              { return e.as(evFailed) }
func (e *eventRes) ToPaymentSucceededOrderEvent() (*eventRes, bool)         { return e.as(evPaid) }
func (e *eventRes) ToPaymentFailedOrderEvent() (*eventRes, bool)            { return e.as(evPaymentFail) }
func (e *eventRes) ToPaymentRefundedOrderEvent() (*eventRes, bool)          { return e.as(evRefunded) }
func (e *eventRes) ToTrackingObtainedOrderEvent() (*eventRes, bool)         { return e.as(evTracking) }
func (e *eventRes) ToOrderCancelStartedOrderEvent() (*eventRes, bool)       { return e.as(evCancelStarted) }
func (e *eventRes) ToOrderCancelSucceededOrderEvent() (*eventRes, bool) {
	return e.as(evCancelSucceeded)
}
func (e *eventRes) ToOrderCancelFailedOrderEvent() (*eventRes, bool) { return e.as(evCancelFailed) }
func (e *eventRes) ToRefundCreatedOrderEvent() (*eventRes, bool)     { return e.as(evRefundCreated) }
