-- w3: price of a product (30% on the 10 hot products), 1% up or down: the
-- hot products' prices take a random walk instead of overflowing numeric(10,2)
\set r random(1, 100)
\set pid CASE WHEN :r <= 30 THEN random(1, 10) ELSE random(1, :nprod) END
\set up random(0, 1)
UPDATE products SET price = CASE WHEN :up = 1 THEN price * 1.01 ELSE price / 1.01 END WHERE id = :pid;
