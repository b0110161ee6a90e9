-- Gold's calendar: Valais public holidays and weekends of the given UTC dates.
SELECT date, is_holiday FROM gold.dim_date WHERE date >= %(first)s AND date <= %(last)s
