package settings

import _ "embed"

//go:embed examples/restaurant.schema.json
var restaurantSchema string

// RestaurantSchema returns the settings schema of the dev demo's restaurant
// platform: a starting point for platforms and a fixture for tests. Each call
// returns a fresh copy.
func RestaurantSchema() []byte {
	return []byte(restaurantSchema)
}
