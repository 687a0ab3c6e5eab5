"""merchant: the shop. Orders, paying them through the gateway, signed result notifications."""
