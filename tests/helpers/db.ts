import { Db } from '../../edge/storage/db.js'

/** Read a gateway's SQLite file from outside, as an operator would. */
export async function query<T = Record<string, unknown>>(file: string, sql: string, params: (string | number)[] = []): Promise<T[]> {
  const db = await Db.open(file, { readonly: true })
  try {
    return await db.all<T>(sql, params)
  } finally {
    await db.close()
  }
}
