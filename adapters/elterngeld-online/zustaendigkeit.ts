/**
 * Which Elterngeldstelle is responsible for an applicant, by the Amtlicher Gemeindeschlüssel of
 * the applicant's municipality (§ 12 BEEG: the Land decides; Sachsen has one Elterngeldstelle per
 * Landkreis and kreisfreie Stadt, Thüringen — in this fictional world — one for the whole Land).
 *
 * Why here and not in the gateway's directory: the directory answers "which system serves the
 * authority elg:14522000"; this table answers "which authority is responsible for municipality
 * 14522180". The online service has to name the addressee of the application itself (the antrag's
 * leser and zustaendigeStelle), exactly as the real service does before it sends; the directory
 * then routes that key like any other. Keeping the table with the only system that needs it
 * changes no core code. Entries are AGS prefixes; the longest matching prefix wins.
 */
export interface Elterngeldstelle {
  kennung: string;
  name: string;
}

const ZUSTAENDIGKEIT: Record<string, Elterngeldstelle> = {
  // Sachsen: kreisfreie Städte (the whole AGS) and Landkreise (AGS prefix: Land, Regierungsbezirk, Kreis).
  '14511000': {
    kennung: 'elg:14511000',
    name: 'Stadt Chemnitz, Amt für Jugend und Familie – Elterngeldstelle',
  },
  '14612000': { kennung: 'elg:14612000', name: 'Landeshauptstadt Dresden, Jugendamt – Elterngeldstelle' },
  '14713000': {
    kennung: 'elg:14713000',
    name: 'Stadt Leipzig, Amt für Jugend und Familie – Elterngeldstelle',
  },
  '14521': { kennung: 'elg:14521000', name: 'Erzgebirgskreis, Elterngeldstelle' },
  '14522': { kennung: 'elg:14522000', name: 'Landkreis Mittelsachsen, Elterngeldstelle' },
  '14523': { kennung: 'elg:14523000', name: 'Vogtlandkreis, Elterngeldstelle' },
  '14524': { kennung: 'elg:14524000', name: 'Landkreis Zwickau, Elterngeldstelle' },
  '14625': { kennung: 'elg:14625000', name: 'Landkreis Bautzen, Elterngeldstelle' },
  '14626': { kennung: 'elg:14626000', name: 'Landkreis Görlitz, Elterngeldstelle' },
  '14627': { kennung: 'elg:14627000', name: 'Landkreis Meißen, Elterngeldstelle' },
  '14628': { kennung: 'elg:14628000', name: 'Landkreis Sächsische Schweiz-Osterzgebirge, Elterngeldstelle' },
  '14729': { kennung: 'elg:14729000', name: 'Landkreis Leipzig, Elterngeldstelle' },
  '14730': { kennung: 'elg:14730000', name: 'Landkreis Nordsachsen, Elterngeldstelle' },
  // Thüringen: one Elterngeldstelle for every municipality of the Land.
  '16': { kennung: 'elg:16000000', name: 'Thüringer Landesverwaltungsamt, Elterngeldstelle' },
};

/** The Elterngeldstelle responsible for municipality `ags`, or undefined when none is connected. */
export function responsibleOffice(ags: string): Elterngeldstelle | undefined {
  let best: string | undefined;
  for (const prefix of Object.keys(ZUSTAENDIGKEIT)) {
    if (ags.startsWith(prefix) && (!best || prefix.length > best.length)) best = prefix;
  }
  return best === undefined ? undefined : ZUSTAENDIGKEIT[best];
}

/** Every connected Elterngeldstelle (the demo world's directory entries name them). */
export function elterngeldstellen(): Elterngeldstelle[] {
  return Object.values(ZUSTAENDIGKEIT);
}
