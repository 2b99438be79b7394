WITH "_d0" AS (
  SELECT "_person", CASE "tier" WHEN ? THEN 0 WHEN ? THEN 1 WHEN ? THEN 2 END AS "_k0"
  FROM "subscribers"
  WHERE "signup_date" >= CAST(? AS DATE)
    AND "tier" IN (?, ?, ?)
  GROUP BY "_person", "_k0"
),
"_d1" AS (
  SELECT "_person", CASE WHEN "balance" < ? THEN 0 ELSE 1 END AS "_k1"
  FROM "customers"
  WHERE "default_flag" = ?
    AND "balance" BETWEEN ? AND ?
  GROUP BY "_person", "_k1"
),
"_pg" AS (
  SELECT "_person", "_k0", "_k1"
  FROM "_d0" JOIN "_d1" USING ("_person")
  QUALIFY row_number() OVER (PARTITION BY "_person" ORDER BY ((((CAST(? AS BIGINT) * ? + "_person") % 2147483647 * ? + "_k0") % 2147483647 * ? + "_k1") % 2147483647 * ?) % 2147483647, "_k0", "_k1") <= ?
)
SELECT "_k0", "_k1", count(*) AS "_people"
FROM "_pg"
GROUP BY "_k0", "_k1"
ORDER BY "_k0", "_k1"

-- arguments
-- 1: string basic
-- 2: string standard
-- 3: string premium
-- 4: time.Time 2020-01-01 00:00:00 +0000 UTC
-- 5: string basic
-- 6: string standard
-- 7: string premium
-- 8: int64 500000
-- 9: bool false
-- 10: int64 0
-- 11: int64 100000000
-- 12: int64 577662373
-- 13: int64 659044154
-- 14: int64 659044154
-- 15: int64 659044154
-- 16: int64 659044154
-- 17: int64 2
