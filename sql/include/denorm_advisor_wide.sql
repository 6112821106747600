\set da_wide_echo :ECHO
\set ECHO none
-- sql/include/denorm_advisor_wide.sql -- one wide table with planted
-- functional dependencies, for timing and testing denorm_advisor's
-- normalization checker (bench/denorm_advisor/run loads 1,000,000 rows).
--
-- Usage (psql):  \set rows 10000      (optional; default 10000)
--                \i .../sql/include/denorm_advisor_wide.sql
--
-- Creates wide_facts (dropping it first if it exists) in the current schema:
-- exactly 20 columns, :rows rows (ids 1 .. rows), deterministic (values
-- from hashint8() of the id and a salt), then VACUUM (ANALYZE).
--
-- Planted dependencies (they hold exactly unless said otherwise):
--   zip -> city -> state          nzip = max(400, min(2000, rows / 10)) zip
--                                 codes, ncity = min(300, nzip / 3) cities,
--                                 50 states; so zip -> state transitively;
--                                 city does not determine zip, state does
--                                 not determine city
--   product_code -> product_name  nprod = max(50, min(5000, rows / 10))
--                                 codes; 192 distinct names, so the name
--                                 does not determine the code
--   product_code -> list_price    APPROXIMATE: ~2% of the rows carry another
--                                 price (g3 error ~0.02); 300 prices, so
--                                 the price does not determine the code
--   (region_id, store_no) -> store_name
--                                 a composite left-hand side: 20 regions x
--                                 50 store numbers; neither column alone
--                                 determines the name
-- Noise (independent of everything else, domains scaled with rows so that
-- none is close to unique): n_int, n_small, n_big, n_text1, n_text2,
-- n_date1, n_date2, amount, flag, note (~30% NULL).
--
-- Prints nothing but its first two lines when psql echoes them.  Leaves the
-- psql variable "rows" as it was (set to 10000 when it was unset).
\set da_wide_quiet :QUIET
\set QUIET on
\if :{?rows}
\else
\set rows 10000
\endif
SELECT current_setting('client_min_messages') AS da_wide_cmm \gset
SET client_min_messages = warning;

SELECT greatest(least(2000, (:rows)::bigint / 10), 400)::int AS da_nzip,
       greatest(least(5000, (:rows)::bigint / 10), 50)::int AS da_nprod,
       greatest((:rows)::bigint / 20, 20)::int AS da_dint,
       greatest((:rows)::bigint / 10, 10)::int AS da_dbig,
       greatest((:rows)::bigint / 5, 10)::int AS da_dtext,
       greatest((:rows)::bigint / 4, 10)::int AS da_damount \gset
SELECT least(300, :da_nzip / 3)::int AS da_ncity \gset

DROP TABLE IF EXISTS wide_facts CASCADE;

BEGIN;

CREATE TABLE wide_facts (
    id           bigint PRIMARY KEY,
    zip          text NOT NULL,
    city         text NOT NULL,
    state        text NOT NULL,
    product_code text NOT NULL,
    product_name text NOT NULL,
    region_id    int NOT NULL,
    store_no     int NOT NULL,
    store_name   text NOT NULL,
    list_price   numeric(10,2) NOT NULL,
    n_int        int,
    n_small      int,
    n_big        bigint,
    n_text1      text,
    n_text2      text,
    n_date1      date,
    n_date2      date,
    amount       numeric(12,2),
    flag         boolean,
    note         text
);

INSERT INTO wide_facts
SELECT i,
       lpad((20011 + zi * 13)::text, 5, '0'),
       (ARRAY['North', 'South', 'East', 'West', 'Upper', 'Lower', 'New', 'Old', 'Port',
              'Fort', 'Lake', 'Glen', 'Mount', 'Rock', 'Fair'])[1 + ci % 15] ||
       (ARRAY['field', 'ford', 'ton', 'ville', 'burg', 'haven', 'wood', 'dale', 'bridge',
              'port', 'mouth', 'stead', 'well', 'brook', 'side', 'view', 'land', 'more',
              'ham', 'by'])[1 + ci / 15 % 20],
       (ARRAY['AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'FL', 'GA', 'HI', 'ID', 'IL',
              'IN', 'IA', 'KS', 'KY', 'LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT',
              'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC', 'ND', 'OH', 'OK', 'OR', 'PA', 'RI',
              'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY'])[1 + (ci * 7) % 50],
       'P' || lpad(pc::text, 5, '0'),
       (ARRAY['Classic', 'Deluxe', 'Compact', 'Ultra', 'Eco', 'Pro', 'Mini', 'Smart',
              'Vintage', 'Rugged', 'Premium', 'Basic'])[1 + pc % 12] || ' ' ||
       (ARRAY['Lamp', 'Chair', 'Kettle', 'Backpack', 'Headphones', 'Notebook', 'Blender',
              'Jacket', 'Drill', 'Speaker', 'Tent', 'Watch', 'Mug', 'Camera', 'Bicycle',
              'Pillow'])[1 + pc / 12 % 16],
       ri,
       sn,
       (ARRAY['Central', 'Harbor', 'Market', 'Station', 'Plaza', 'Mall', 'Corner', 'Square',
              'Outlet', 'Depot', 'Gallery', 'Park', 'Riverside', 'Hilltop', 'Airport',
              'Campus', 'Downtown', 'Uptown', 'Village', 'Crossing'])[1 + hs % 20] || ' ' ||
       (ARRAY['Store', 'Shop', 'Express', 'Megastore', 'Corner', 'Outlet', 'Point', 'Hub',
              'Center', 'Place'])[1 + hs / 20 % 10] || ' ' || (1 + hs / 200 % 5),
       -- list prices like 54.99: 300 distinct values, so the price does not
       -- determine the product code
       CASE WHEN hlp % 50 = 0 THEN 4.99 + (hashint8(pc * 32 + 9) & 2147483647) % 300 + 1 + hlp / 50 % 9
            ELSE 4.99 + (hashint8(pc * 32 + 9) & 2147483647) % 300 END,
       (hashint8(i * 32 + 10) & 2147483647) % :da_dint,
       (hashint8(i * 32 + 11) & 2147483647) % 7,
       ((hashint8(i * 32 + 12) & 2147483647) % :da_dbig)::bigint * 1000003 + 17,
       'tag' || (hashint8(i * 32 + 13) & 2147483647) % 500,
       to_hex((hashint8(i * 32 + 14) & 2147483647) % :da_dtext),
       date '2020-01-01' + ((hashint8(i * 32 + 15) & 2147483647) % 1500)::int,
       date '2023-01-01' + ((hashint8(i * 32 + 16) & 2147483647) % 365)::int,
       ((hashint8(i * 32 + 17) & 2147483647) % :da_damount) / 100.0,
       (hashint8(i * 32 + 18) & 1) = 1,
       CASE WHEN (hashint8(i * 32 + 19) & 2147483647) % 10 < 3 THEN NULL
            ELSE (ARRAY['gift', 'express', 'fragile', 'call first', 'leave at door',
                        'no invoice', 'backorder', 'return', 'exchange', 'priority'])[1 + (hashint8(i * 32 + 20) & 2147483647) % 10]
       END
FROM (SELECT i, zi, zi % :da_ncity AS ci, pc, ri, sn, hlp,
             -- store names: a hash of (region, store number)
             (hashint8(ri * 100 + sn) & 2147483647) % 1000 AS hs
      FROM (SELECT i,
                   (hashint8(i * 32 + 1) & 2147483647) % :da_nzip AS zi,
                   (hashint8(i * 32 + 2) & 2147483647) % :da_nprod AS pc,
                   1 + (hashint8(i * 32 + 3) & 2147483647) % 20 AS ri,
                   1 + (hashint8(i * 32 + 4) & 2147483647) % 50 AS sn,
                   (hashint8(i * 32 + 5) & 2147483647) AS hlp
            FROM generate_series(1::bigint, :rows) AS i) AS a) AS b
ORDER BY i;

COMMIT;

VACUUM (ANALYZE) wide_facts;

SET client_min_messages = :'da_wide_cmm';
\unset da_nzip
\unset da_ncity
\unset da_nprod
\unset da_dint
\unset da_dbig
\unset da_dtext
\unset da_damount
\unset da_wide_cmm
\set QUIET :da_wide_quiet
\unset da_wide_quiet
\set ECHO :da_wide_echo
