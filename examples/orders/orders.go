// Package orders is an example application on tenantkit: the orders API of a
// restaurant platform. Its handlers hold no tenant filter and no tier logic:
// tenantkit's middleware resolves the tenant, and kit.Tx scopes every
// statement to it on whichever tier the tenant lives. Receipts are sent by a
// background job, worked with its tenant like a request (receipt.go).
package orders

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the application's tables, applied by tenantkit to every
// shared database, tenant schema and dedicated database.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Item is a line of an order.
type Item struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Order is an order with its lines.
type Order struct {
	ID            int64     `json:"id"`
	CustomerEmail string    `json:"customer_email"`
	CustomerName  string    `json:"customer_name"`
	Status        string    `json:"status"`
	TotalCents    int64     `json:"total_cents"`
	CreatedAt     time.Time `json:"created_at"`
	Items         []Item    `json:"items,omitempty"`
}

// NewOrder is the body of POST /api/orders.
type NewOrder struct {
	CustomerEmail string `json:"customer_email"`
	CustomerName  string `json:"customer_name"`
	Items         []Item `json:"items"`
}

// Handler serves POST /api/orders, GET /api/orders, GET /api/orders/{id},
// POST /api/orders/{id}/receipt, and the storefront page GET / in the
// tenant's brand, for the tenant of each request. Mount
// it behind kit.Middleware. Receipts need the Kit's jobs (Config.Jobs, with
// Workers' workers).
func Handler(kit *tenantkit.Kit) http.Handler {
	a := &app{kit: kit}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/orders", a.create)
	mux.HandleFunc("GET /api/orders", a.list)
	mux.HandleFunc("GET /api/orders/{id}", a.get)
	mux.HandleFunc("POST /api/orders/{id}/receipt", a.requestReceipt)
	mux.HandleFunc("GET /{$}", a.storefront)
	return mux
}

type app struct{ kit *tenantkit.Kit }

func (a *app) create(w http.ResponseWriter, r *http.Request) {
	var in NewOrder
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if msg := in.validate(); msg != "" {
		fail(w, http.StatusUnprocessableEntity, msg)
		return
	}
	var id int64
	err := a.kit.Tx(r.Context(), func(tx pgx.Tx) error {
		var err error
		id, err = insertOrder(r.Context(), tx, in)
		return err
	})
	if err != nil {
		serverError(w, err)
		return
	}
	o, err := loadOrder(r.Context(), a.kit, id)
	if err != nil {
		serverError(w, err)
		return
	}
	w.Header().Set("Location", "/api/orders/"+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusCreated, o)
}

func (in NewOrder) validate() string {
	switch {
	case !strings.Contains(in.CustomerEmail, "@"):
		return "customer_email must be an email address"
	case strings.TrimSpace(in.CustomerName) == "":
		return "customer_name is required"
	case len(in.Items) == 0 || len(in.Items) > 100:
		return "items must hold 1 to 100 lines"
	}
	for _, it := range in.Items {
		if it.SKU == "" || it.Quantity < 1 || it.PriceCents < 0 {
			return "each item needs a sku, a quantity of at least 1 and a price of at least 0"
		}
	}
	return ""
}

// insertOrder upserts the customer and writes the order and its lines.
// Note what is missing: no tenant_id anywhere — the column's default and
// the row-level security come from tenantkit.
func insertOrder(ctx context.Context, tx pgx.Tx, in NewOrder) (int64, error) {
	var customerID int64
	err := tx.QueryRow(ctx, `INSERT INTO customers (email, name) VALUES ($1, $2)
		ON CONFLICT (tenant_id, email) DO UPDATE SET name = EXCLUDED.name
		RETURNING id`, in.CustomerEmail, in.CustomerName).Scan(&customerID)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO orders (customer_id) VALUES ($1) RETURNING id`, customerID).Scan(&id); err != nil {
		return 0, err
	}
	for i, it := range in.Items {
		if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, line, sku, quantity, price_cents)
			VALUES ($1, $2, $3, $4, $5)`, id, i+1, it.SKU, it.Quantity, it.PriceCents); err != nil {
			return 0, err
		}
	}
	return id, nil
}

const orderSQL = `SELECT o.id, c.email, c.name, o.status, o.created_at,
	COALESCE((SELECT sum(i.quantity * i.price_cents) FROM order_items i WHERE i.order_id = o.id), 0)::bigint
	FROM orders o JOIN customers c ON c.id = o.customer_id`

func scanOrder(row pgx.CollectableRow) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.CustomerEmail, &o.CustomerName, &o.Status, &o.CreatedAt, &o.TotalCents)
	return o, err
}

func (a *app) list(w http.ResponseWriter, r *http.Request) {
	orders, err := tenantkit.Query(r.Context(), a.kit, orderSQL+" ORDER BY o.id DESC LIMIT 100", nil, scanOrder)
	if err != nil {
		serverError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": orders})
}

func (a *app) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, http.StatusNotFound, "no such order")
		return
	}
	o, err := loadOrder(r.Context(), a.kit, id)
	if errors.Is(err, pgx.ErrNoRows) {
		fail(w, http.StatusNotFound, "no such order")
		return
	}
	if err != nil {
		serverError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// loadOrder reads an order and its lines in one read-only transaction.
func loadOrder(ctx context.Context, kit *tenantkit.Kit, id int64) (Order, error) {
	var o Order
	err := kit.TxWithOptions(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, orderSQL+" WHERE o.id = $1", id)
		if err != nil {
			return err
		}
		if o, err = pgx.CollectExactlyOneRow(rows, scanOrder); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT sku, quantity, price_cents FROM order_items WHERE order_id = $1 ORDER BY line`, id)
		if err != nil {
			return err
		}
		o.Items, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Item])
		return err
	})
	return o, err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func serverError(w http.ResponseWriter, err error) {
	if errors.Is(err, tenantkit.ErrNotPlaced) {
		fail(w, http.StatusServiceUnavailable, "this tenant's data is not ready yet")
		return
	}
	fail(w, http.StatusInternalServerError, "internal error")
}
